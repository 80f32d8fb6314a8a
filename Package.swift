// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "corsd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "corsd", targets: ["corsd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // epoll, accept4 and friends (not all of them are exposed by the Glibc module), and TLS
        // through the system's OpenSSL 3 (Debian's libssl-dev), behind a few C calls.
        .target(name: "CCorsdShim", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // Leaf: field issues and their rules, token bytes, percent-decoding, the JSON encoder.
        .target(name: "CorsdBase"),
        .target(
            name: "HTTPCore",
            dependencies: [
                "CCorsdShim",
                "CorsdBase",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // Routes that return responses, problems, query strings and entity tags, above HTTPCore.
        .target(
            name: "HTTPRouting",
            dependencies: ["HTTPCore", "CorsdBase", .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log")]
        ),
        // Pure: origins, patterns and CORS decisions.
        .target(name: "CORSPolicy", dependencies: ["CorsdBase", .product(name: "HTTPTypes", package: "swift-http-types")]),
        // Pure: the deployment model and its validation.
        .target(name: "CorsdModel", dependencies: ["CORSPolicy", "CorsdBase"]),
        // Pure: deployment in, settings.py / omero config / limits.conf / systemd text out.
        .target(name: "Rendering", dependencies: ["CorsdBase", "CorsdModel", "CORSPolicy", .product(name: "Crypto", package: "swift-crypto")]),
        // SQLite through GRDB: deployments, revisions, audit, tokens.
        .target(
            name: "PolicyStore",
            dependencies: [
                "CorsdModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // /tiles/{deployment}/…: the CORS-enforcing proxy to OMERO.web, with its cache.
        .target(name: "TileProxy", dependencies: ["CorsdBase", "HTTPCore", "HTTPRouting", "CORSPolicy", "CorsdModel", .product(name: "Logging", package: "swift-log"),
                                                  .product(name: "CoreMetrics", package: "swift-metrics")]),
        // /metrics (swift-metrics handlers exported by swift-prometheus), request metrics, the
        // access log and the JSON log format.
        .target(
            name: "Observability",
            dependencies: ["CorsdBase", "HTTPCore", "HTTPRouting", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // The /api/v1 routes.
        .target(
            name: "ManagementAPI",
            dependencies: ["HTTPCore", "HTTPRouting", "PolicyStore", "CorsdModel", "CORSPolicy", "Rendering", "TileProxy", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "corsd",
            dependencies: [
                "HTTPCore",
                "HTTPRouting",
                "ManagementAPI",
                "PolicyStore",
                "Rendering",
                "TileProxy",
                "Observability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Microbenchmark of CORS decisions: swift run -c release cors-bench
        .executableTarget(name: "cors-bench", dependencies: ["CORSPolicy"], path: "bench/CORSBench"),
        // Cost of every untrusted-input path at 1x, 10x, 100x size: swift run -c release linear-bench
        .executableTarget(name: "linear-bench", dependencies: ["CORSPolicy", "CorsdModel", "HTTPCore", "HTTPRouting", "TileProxy",
                                                               .product(name: "HTTPTypes", package: "swift-http-types")], path: "bench/LinearCost"),
        // Raw sockets and a launcher for the real binary, shared by the test targets.
        .target(name: "TestSupport", dependencies: ["HTTPCore"], path: "Tests/TestSupport"),
        .testTarget(name: "CorsdBaseTests", dependencies: ["CorsdBase"]),
        .testTarget(name: "HTTPCoreTests", dependencies: ["HTTPCore", "TestSupport"]),
        .testTarget(name: "HTTPRoutingTests", dependencies: ["HTTPRouting", "HTTPCore"]),
        .testTarget(name: "CORSPolicyTests", dependencies: ["CORSPolicy", "TestSupport"]),
        .testTarget(name: "CorsdModelTests", dependencies: ["CorsdModel", "CORSPolicy", "TestSupport"]),
        .testTarget(name: "TileProxyTests", dependencies: ["TileProxy", "TestSupport"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", "HTTPCore", "HTTPRouting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "RenderingTests", dependencies: ["Rendering", "CorsdModel", "CORSPolicy", "TestSupport"]),
        .testTarget(name: "PolicyStoreTests", dependencies: ["PolicyStore", "CorsdModel", .product(name: "GRDB", package: "GRDB.swift")]),
        // In-process route tests: the router and an in-memory database, no socket, no binary.
        .testTarget(name: "ManagementAPITests", dependencies: ["ManagementAPI", "HTTPRouting", "HTTPCore", "PolicyStore", "CorsdModel", "Rendering", "Observability"]),
        .testTarget(name: "IntegrationTests", dependencies: ["HTTPCore", "TestSupport", "corsd"]),
    ],
    swiftLanguageModes: [.v6]
)
