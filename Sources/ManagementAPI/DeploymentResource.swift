import CorsdBase
import CorsdModel
import HTTPRouting
import HTTPTypes
import PolicyStore
import Rendering

/// A deployment as the API serves it: its document plus the read-only `revision`,
/// `created_at`, `updated_at` and `warnings`. What GET returns can be PUT back unchanged.
struct DeploymentResource: Encodable {
    var stored: StoredDeployment
    var warnings: [FieldIssue]

    init(_ stored: StoredDeployment, warnings: [FieldIssue]? = nil) {
        self.stored = stored
        self.warnings = warnings ?? DeploymentValidator.warnings(for: stored.deployment)
    }

    private enum ReadOnly: String, CodingKey {
        case revision, warnings
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: Encoder) throws {
        try stored.deployment.encode(to: encoder)
        var c = encoder.container(keyedBy: ReadOnly.self)
        try c.encode(stored.revision, forKey: .revision)
        try c.encode(stored.createdAt, forKey: .createdAt)
        try c.encode(stored.updatedAt, forKey: .updatedAt)
        try c.encode(warnings, forKey: .warnings)
    }

    var etag: String { DeploymentETag.of(revision: stored.revision) }

    /// A deployment document as text for diffs and exported files: pretty JSON, sorted keys,
    /// a final newline ("" for none).
    static func documentText(_ deployment: Deployment?) throws -> String {
        guard let deployment else { return "" }
        return try JSONValue(encoding: deployment).prettyText()
    }

    func response(status: HTTPResponse.Status = .ok, location: Bool = false) throws -> Response {
        var fields = HTTPFields()
        fields[.eTag] = etag
        if location { fields[.location] = "\(ManagementAPI.prefix)/deployments/\(stored.name)" }
        return try .json(self, status: status, headerFields: fields)
    }
}

/// What `?dry_run=true` answers: what would be stored and how every render would change.
struct DryRun: Encodable {
    var dryRun = true
    var changed: Bool
    /// create, update, delete or none.
    var action: String
    /// The revision the change applies to (nil: the deployment does not exist): the `If-Match`
    /// that makes the real write safe.
    var currentRevision: Int?
    var deployment: DeploymentResource?
    /// Unified diff of the document (pretty-printed JSON, sorted keys).
    var document: String
    var renders: [RenderDiff]

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run"
        case currentRevision = "current_revision"
        case changed, action, deployment, document, renders
    }

    init(_ m: Modification, warnings: [FieldIssue]? = nil) throws {
        changed = m.changed
        action = !m.changed ? "none" : m.stored == nil ? "delete" : m.previous == nil ? "create" : "update"
        currentRevision = m.previous?.revision
        deployment = m.stored.map { DeploymentResource($0, warnings: warnings) }
        let oldLabel = m.previous.map { "revision \($0.revision)" } ?? "absent", newLabel = m.stored == nil ? "deleted" : "dry run"
        document = UnifiedDiff.make(from: try DeploymentResource.documentText(m.previous?.deployment), to: try DeploymentResource.documentText(m.stored?.deployment),
                                    oldLabel: oldLabel, newLabel: newLabel)
        renders = RenderDiff.between(m.previous?.deployment, m.stored?.deployment, oldLabel: oldLabel, newLabel: newLabel)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(changed, forKey: .changed)
        try c.encode(action, forKey: .action)
        try c.encode(currentRevision, forKey: .currentRevision)  // null: absent
        try c.encode(deployment, forKey: .deployment)  // null: deleted
        try c.encode(document, forKey: .document)
        try c.encode(renders, forKey: .renders)
    }

    func response() throws -> Response { try .json(self) }
}
