import CorsdModel
import XCTest

@testable import Rendering

/// A render's bytes depend only on what it configures: hosts compare ETags, and a change that
/// touches no file must not restart anything.
final class StableRenderTests: XCTestCase {
    let base: JSONValue = .object([
        "cors": .object(["allowed_origins": .array([.string("https://viewer.example.org")])]),
        "systemd_units": .array([.object(["unit": .string("omero-web.service"), "user": .string("omero-web")])]),
        "limits": .array([.object(["domain": .string("omero-web"), "type": .string("-"), "item": .string("nofile"), "value": .number(65536)])]),
    ])

    func renders(_ patch: JSONValue) -> [String: String] {
        let d = deployment(base.merged(with: patch))
        return Dictionary(uniqueKeysWithValues: RenderFormat.all(for: d).map { f in (f.name, (try? f.render(RenderInput(deployment: d)).text) ?? "error") })
    }

    func testADescriptionEditLeavesEveryRenderByteIdentical() {
        let before = renders(.object([:]))
        let after = renders(.object(["description": .string("a new description, nothing else")]))
        XCTAssertEqual(before.count, 8)
        for (format, text) in before { XCTAssertEqual(after[format], text, format) }
        XCTAssertEqual(RenderSet(deployment(base)).etag, RenderSet(deployment(base.merged(with: .object(["description": .string("x")])))).etag)
    }

    func testALimitsEditChangesOnlyTheFilesThatCarryLimits() {
        let before = renders(.object([:]))
        let after = renders(.object(["limits": .array([.object(["domain": .string("omero-web"), "type": .string("-"), "item": .string("nofile"), "value": .number(131072)])])]))
        let changed = Set(before.keys.filter { before[$0] != after[$0] })
        XCTAssertTrue(changed.isSuperset(of: ["limits.conf", "systemd/omero-web.service"]), "\(changed)")
        XCTAssertTrue(changed.isDisjoint(with: ["settings.py", "omero-web-config.sh", "omero-web.omero", "omero-web.env"]), "\(changed)")
    }
}
