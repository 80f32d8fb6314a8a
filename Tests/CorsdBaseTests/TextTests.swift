import CorsdBase
import Testing

@Suite struct TextTests {
    @Test(arguments: [
        ("plain", "plain", false),
        ("a%20b", "a b", false),
        ("a+b", "a+b", false),
        ("%E2%82%AC", "€", false),
        ("%e2%82%ac", "€", false),
    ])
    func percentDecoding(_ input: String, _ expected: String, _ plus: Bool) {
        #expect(PercentDecoding.decode(input, plusAsSpace: plus) == expected)
    }

    @Test(arguments: ["%", "%2", "%zz", "%C3%28", "%FF"])
    func malformedOrNonUTF8EscapesAreNil(_ input: String) {
        #expect(PercentDecoding.decode(input) == nil)
    }

    @Test func plusIsASpaceOnlyInQueries() {
        #expect(PercentDecoding.decode("a+b", plusAsSpace: true) == "a b")
    }

    @Test func tokensAreRFC9110Tchars() {
        #expect(isToken("X-Custom_1.2~"))
        #expect(!isToken(""))
        for bad in ["a b", "a:b", "\"q\"", "a\r\nb", "é"] { #expect(!isToken(bad), "\(bad)") }
    }

    @Test func owsTrimsOnlySpacesAndTabs() {
        #expect(" \t a b \t".trimmingOWS() == "a b")
        #expect("\na\n".trimmingOWS() == "\na\n")
    }

    @Test func everyRuleHasAMeaningAndASnakeCaseName() {
        for rule in Rule.allCases {
            #expect(rule.rawValue.wholeMatch(of: /[a-z0-9]+(_[a-z0-9]+)*/) != nil, "\(rule)")
            #expect(!rule.meaning.isEmpty)
        }
    }
}
