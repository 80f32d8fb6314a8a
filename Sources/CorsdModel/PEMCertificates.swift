import Foundation

/// The syntax of a PEM CA bundle (RFC 7468): one or more CERTIFICATE blocks of base64 DER;
/// lines outside blocks (the `# Issuer:` comments of distribution bundles) are allowed.
/// Whether OpenSSL accepts each certificate is found when the bundle is loaded.
public enum PEMCertificates {
    public static let maxBytes = 256 * 1024
    public static let maxCertificates = 100

    /// What is wrong with `text`, or nil.
    public static func problem(in text: String) -> String? {
        guard text.utf8.count <= maxBytes else { return "must be at most \(maxBytes) bytes of PEM" }
        var inBlock = false
        var body = ""
        var count = 0
        // "\r\n" is one Character in Swift: split on line breaks, not on "\n" alone.
        for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
                return "line \(i + 1) has a control character"
            }
            if line == "-----BEGIN CERTIFICATE-----" {
                if inBlock { return "line \(i + 1): BEGIN CERTIFICATE inside a certificate" }
                inBlock = true
                body = ""
            } else if line == "-----END CERTIFICATE-----" {
                guard inBlock else { return "line \(i + 1): END CERTIFICATE without a BEGIN" }
                inBlock = false
                // DER of a certificate starts with a SEQUENCE (0x30).
                guard let der = Data(base64Encoded: body), der.first == 0x30, der.count > 100 else {
                    return "certificate \(count + 1) (ending on line \(i + 1)) is not base64 DER"
                }
                count += 1
                if count > maxCertificates { return "must hold at most \(maxCertificates) certificates" }
            } else if inBlock {
                guard line.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/" || $0 == "=") }) else {
                    return "line \(i + 1): only base64 may appear inside a certificate"
                }
                body += line
            } else if line.hasPrefix("-----BEGIN ") {
                return "line \(i + 1): only CERTIFICATE blocks belong in a CA bundle (no keys)"
            }
        }
        if inBlock { return "the last certificate has no END CERTIFICATE line" }
        if count == 0 { return "must hold at least one -----BEGIN CERTIFICATE----- block" }
        return nil
    }
}
