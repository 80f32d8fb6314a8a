/// corsd's version: `corsd --version`, `corsd_build_info{version}` and the `ready` log line.
enum CorsdVersion {
    static let current = "0.6.0"
}
