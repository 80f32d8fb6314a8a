import CorsdBase
import CorsdModel

/// How one render changes between two versions of a deployment: what a dry run and a revision
/// diff show. A render that fails shows its error in place of its text.
public struct RenderDiff: Sendable, Equatable, Encodable {
    public var format: String
    public var changed: Bool
    /// Unified diff of the render's text; "" when unchanged.
    public var diff: String

    /// One entry per render of either version (nil: the deployment does not exist there).
    public static func between(_ old: Deployment?, _ new: Deployment?, oldLabel: String, newLabel: String) -> [RenderDiff] {
        var formats: [RenderFormat] = []
        for d in [old, new].compactMap({ $0 }) {
            for f in RenderFormat.all(for: d) where !formats.contains(f) { formats.append(f) }
        }
        return formats.map { format in
            let a = old.map { text(format, $0) } ?? "", b = new.map { text(format, $0) } ?? ""
            return RenderDiff(format: format.name, changed: a != b,
                              diff: UnifiedDiff.make(from: a, to: b, oldLabel: "\(format.name) (\(oldLabel))", newLabel: "\(format.name) (\(newLabel))"))
        }
    }

    private static func text(_ format: RenderFormat, _ d: Deployment) -> String {
        if case .systemd(let unit) = format, !d.systemdUnits.contains(where: { $0.unit == unit }) { return "" }
        do { return try format.render(RenderInput(deployment: d)).text } catch { return "# cannot render: \(error.description)\n" }
    }
}
