import CCorsdShim
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TLS set-up that could not be made (a certificate, key or CA bundle OpenSSL refused).
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Runs an OpenSSL context constructor that reports into a message buffer.
private func makeContext(_ body: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws(TLSError) -> OpaquePointer {
    var message = [CChar](repeating: 0, count: 512)
    let ctx = message.withUnsafeMutableBufferPointer { buffer -> OpaquePointer? in
        guard let base = buffer.baseAddress else { return nil }
        return body(base, buffer.count)
    }
    guard let ctx else { throw TLSError(cString(message)) }
    return ctx
}

/// The listener's TLS: certificate chain, key and optional client CA, from PEM files, with
/// `reload()` for SIGHUP. Connections keep the context they started with; new ones get the
/// current one.
public final class TLSServerContext: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// With a client CA, client certificates are requested and verified; routes decide
    /// whether one is required (the management API does, tiles do not).
    public let clientCAPath: String?
    private let current: Mutex<OpaqueContext>

    public init(certificatePath: String, keyPath: String, clientCAPath: String? = nil) throws(TLSError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
        current = Mutex(OpaqueContext(try Self.load(certificatePath, keyPath, clientCAPath)))
    }

    /// When the certificate in service expires, in seconds since the epoch (for the metric
    /// and the start-up and reload log lines).
    public var certificateNotAfter: Double {
        current.withLock { corsd_tls_ctx_not_after($0.pointer) }
    }

    private static func load(_ cert: String, _ key: String, _ clientCA: String?) throws(TLSError) -> OpaquePointer {
        try makeContext { corsd_tls_server_ctx(cert, key, clientCA, $0, $1) }
    }

    /// Reads the files again. On failure the context in use stays and the error is thrown.
    public func reload() throws(TLSError) {
        var context = OpaqueContext(try Self.load(certificatePath, keyPath, clientCAPath))
        current.withLock { swap(&$0, &context) }
        // The old context is released here, outside the lock; sessions that use it hold it.
    }

    /// A server-side session on an accepted socket (nil if OpenSSL cannot make one).
    func accept(fd: Int32) -> TLSStream? {
        current.withLock { ctx in corsd_tls_server_new(ctx.pointer, fd) }.map { TLSStream($0) }
    }
}

/// Verifies upstream servers: against the system trust store (`system`) or a CA bundle. One
/// context serves every connection that trusts the same CAs.
public final class TLSClientContext: Sendable, Hashable {
    private let context: OpaqueContext
    /// False for a pinned leaf: the certificate itself is the identity, so no name is checked.
    private let checksName: Bool

    /// The system trust store (Debian: /etc/ssl/certs from ca-certificates), made once.
    public static func system() throws(TLSError) -> TLSClientContext {
        switch systemContext { case .success(let c): return c; case .failure(let e): throw e }
    }
    private static let systemContext = Result { () throws(TLSError) -> TLSClientContext in try TLSClientContext(caBundlePEM: nil) }

    /// `caBundlePEM`: one or more PEM certificates to trust instead of the system store;
    /// `clientCertificate`: PEM files (chain, key) of a certificate to present when a server
    /// asks for one (a centre with `--tls-client-ca`).
    public convenience init(caBundlePEM: String?, clientCertificate: (certificatePath: String, keyPath: String)? = nil) throws(TLSError) {
        try self.init(pem: caBundlePEM, pinLeaf: false, clientCertificate: clientCertificate)
    }

    /// Trusts exactly the first certificate in `certificatePEM` — a server's own leaf, as in
    /// its `--tls-cert` file — and checks no host name: for probing a server of one's own by
    /// address (`corsd healthcheck` on loopback), where the certificate is the identity.
    public convenience init(pinningLeaf certificatePEM: String) throws(TLSError) {
        try self.init(pem: certificatePEM, pinLeaf: true, clientCertificate: nil)
    }

    private init(pem text: String?, pinLeaf: Bool, clientCertificate: (certificatePath: String, keyPath: String)?) throws(TLSError) {
        let cert = clientCertificate?.certificatePath
        let key = clientCertificate?.keyPath
        // nil PEM: the system store (the C side takes a NULL bundle).
        let pem = text.map { Array($0.utf8CString) }
        checksName = !pinLeaf
        context = OpaqueContext(try makeContext { message, length in
            guard let pem else { return corsd_tls_client_ctx(nil, 0, 0, cert, key, message, length) }
            return pem.withUnsafeBufferPointer { corsd_tls_client_ctx($0.baseAddress, $0.count - 1, pinLeaf ? 1 : 0, cert, key, message, length) }
        })
    }

    func connect(fd: Int32, host: String, session: TLSSession?) -> TLSStream? {
        corsd_tls_client_new(context.pointer, fd, checksName ? host : nil, session?.pointer).map { TLSStream($0) }
    }

    public static func == (a: TLSClientContext, b: TLSClientContext) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// An SSL_CTX reference, freed with its owner.
private final class OpaqueContext: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { corsd_tls_ctx_free(pointer) }
}

/// A resumable session kept by a connection pool for its next connection.
final class TLSSession: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { corsd_tls_session_free(pointer) }
}

/// One connection's TLS state. Confined to the connection's queue, like the rest of it.
final class TLSStream {
    private let ssl: OpaquePointer
    /// The last read wanted the socket writable (a handshake or key update mid-read).
    private(set) var readWantsWrite = false
    /// The last write wanted the socket readable (a handshake not finished).
    private(set) var writeWantsRead = false
    /// The length of a write that must be repeated (OpenSSL: at least the same bytes again).
    var pendingWrite: Int?
    /// Set at a fatal error: nothing more may be said on this session (no close_notify).
    private(set) var failed = false
    /// The last read wanted more from the socket: whatever OpenSSL holds is an incomplete
    /// record, which epoll will report the rest of.
    private var readBlocked = false
    /// The most a record carries: the unit outbound bytes are gathered into.
    static let recordSize = 16384

    init(_ ssl: OpaquePointer) { self.ssl = ssl }
    deinit { corsd_tls_free(ssl) }

    var handshakeDone: Bool { corsd_tls_handshake_done(ssl) != 0 }
    /// Input inside OpenSSL (decrypted, or whole records read ahead) that no epoll event will
    /// announce. After a read that wanted more, what is held is an incomplete record: false.
    var hasBufferedInput: Bool { !readBlocked && corsd_tls_has_pending(ssl) != 0 }
    var protocolName: String { String(cString: corsd_tls_protocol(ssl)) }
    var sessionReused: Bool { corsd_tls_session_reused(ssl) != 0 }

    /// The verified peer certificate's subject, RFC 2253.
    var peerSubject: String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        let n = buffer.withUnsafeMutableBufferPointer { corsd_tls_peer_subject(ssl, $0.baseAddress, $0.count) }
        return n < 0 ? nil : cString(buffer)
    }

    func session() -> TLSSession? { corsd_tls_get_session(ssl).map(TLSSession.init) }

    func read(into buffer: UnsafeMutableBufferPointer<UInt8>) -> IOResult {
        readWantsWrite = false
        let n = corsd_tls_read(ssl, buffer.baseAddress, buffer.count)
        let r = result(n, wantWrite: &readWantsWrite)
        if case .wouldBlock = r { readBlocked = true } else { readBlocked = false }
        return r
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        writeWantsRead = false
        let n = corsd_tls_write(ssl, bytes.baseAddress, bytes.count)
        var wantWrite = false
        let r = result(n, wantWrite: &wantWrite)
        if case .wouldBlock = r, !wantWrite { writeWantsRead = true }
        return r
    }

    private func result(_ n: Int, wantWrite: inout Bool) -> IOResult {
        switch n {
        case 0...: return n == 0 ? .endOfStream : .bytes(n)
        case corsd_TLS_WANT_READ: return .wouldBlock
        case corsd_TLS_WANT_WRITE:
            wantWrite = true
            return .wouldBlock
        default:
            failed = true
            return .failed(String(cString: corsd_tls_failure()))
        }
    }

    /// close_notify, once, when the session is sound.
    func shutdown() {
        if !failed { corsd_tls_shutdown(ssl) }
    }
}

/// What one read or write on a connection gave.
enum IOResult {
    case bytes(Int)
    case wouldBlock
    case endOfStream
    /// errno text or the TLS failure (a certificate that did not verify, a bad record).
    case failed(String)
}

/// A connected socket, plain or TLS: the one place connections read, write and decide what
/// readiness they wait for.
struct StreamTransport {
    let fd: Int32
    let tls: TLSStream?

    func read(into buffer: UnsafeMutableBufferPointer<UInt8>) -> IOResult {
        if let tls { return tls.read(into: buffer) }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfStream }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(SocketError.system("read", errno).description)
        }
    }

    /// The epoll interest for wanting to read and/or write: TLS may need the other direction
    /// to make progress (a handshake message to send while reading, one to receive while writing).
    func interest(read: Bool, write: Bool) -> EventMask {
        var events: EventMask = []
        if read { events.insert(tls?.readWantsWrite == true ? .writable : .readable) }
        if write { events.insert(tls?.writeWantsRead == true ? .readable : .writable) }
        return events
    }

    /// Input OpenSSL already holds: epoll will not report it, so the owner must read it now.
    var hasBufferedInput: Bool { tls?.hasBufferedInput ?? false }
}

