import CorsdBase
import Testing

@Suite struct DurationTextTests {
    @Test(arguments: [("90s", 90), ("10m", 600), ("12h", 43200), ("30d", 2_592_000), ("2w", 1_209_600), ("0s", 0)])
    func unitsScale(_ text: String, _ seconds: Int) {
        #expect(DurationText.seconds(text, max: .max) == seconds)
    }

    @Test func bareNumbersOnlyWhenAllowed() {
        #expect(DurationText.seconds("60", max: 300) == nil)
        #expect(DurationText.seconds("60", bareSeconds: true, max: 300) == 60)
    }

    @Test(arguments: ["", "s", "-1s", "+1s", "1.5s", "1y", "１s", "99999999999999999999d", "9223372036854775807w"])
    func malformedOrOverflowingIsNil(_ text: String) {
        #expect(DurationText.seconds(text, bareSeconds: true, max: .max) == nil)
    }

    @Test func theMaximumIsInclusive() {
        #expect(DurationText.seconds("5m", max: 300) == 300)
        #expect(DurationText.seconds("301s", max: 300) == nil)
    }
}
