// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "reconcile",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "reconcile", targets: ["reconcile"]),
        .executable(name: "reconcile-shim", targets: ["reconcile-shim"]),
        .library(name: "ReconcileModel", targets: ["ReconcileModel"]),
        .library(name: "ReconcileManifest", targets: ["ReconcileManifest"]),
        .library(name: "ReconcilePlanner", targets: ["ReconcilePlanner"]),
        .library(name: "ReconcileGit", targets: ["ReconcileGit"]),
        .library(name: "ReconcileDrivers", targets: ["ReconcileDrivers"]),
        .library(name: "ReconcileStore", targets: ["ReconcileStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // Pure value types: no I/O, no clock, no project imports.
        .target(name: "ReconcileModel", dependencies: ["ReconcileShimCore"]),
        // Pure planning: desired + observed + now -> actions. Imports the model only.
        .target(name: "ReconcilePlanner", dependencies: ["ReconcileModel"]),
        // PCRE2 from Debian's libpcre2-dev: the regular expression engine of checks and log search.
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        // Files -> validated DesiredState + diagnostics.
        .target(
            name: "ReconcileManifest",
            dependencies: ["ReconcileModel", "CPCRE2", .product(name: "Yams", package: "Yams")]
        ),
        // libcurl from Debian's libcurl4-openssl-dev: the SMTP client of email notifiers.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // One C function around libcurl's SMTP (its setopt is variadic, which Swift cannot call).
        .target(name: "CSMTP", dependencies: ["CCurl"]),
        // pidfd_open(2) through syscall(2) (variadic): the process driver watches its shims with it.
        .target(name: "CPidfd"),
        // posix_spawn's glibc extensions (closefrom, chdir, setsid), which Swift's Glibc does not export.
        .target(name: "CSpawn"),
        // The one way to start a host command: descriptors closed, an explicit environment, its own group.
        .target(name: "ReconcileSpawn", dependencies: ["CSpawn"]),
        // Collected logs: segment files with a time index, and PCRE2 (JIT) search over them.
        // The version and the git commit of this build (the BuildInfo plugin writes the commit).
        .target(name: "ReconcileBuildInfo", plugins: ["BuildInfo"]),
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .target(name: "ReconcileLogs", dependencies: ["CPCRE2"]),
        // Secret references resolved on this host at use time (environment variables, files).
        .target(name: "ReconcileSecrets", dependencies: ["ReconcileModel"]),
        // libgit2 from Debian's libgit2-dev.
        .systemLibrary(name: "CLibGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        // Git remotes mirrored under the state directory, read at a commit without a work tree.
        .target(
            name: "ReconcileGit",
            dependencies: ["ReconcileModel", "ReconcileManifest", "ReconcileSecrets", "ReconcileSpawn", "CLibGit2"]),
        // Container drivers: the Docker Engine API (unix socket or TCP+TLS) and host processes.
        .target(
            name: "ReconcileDrivers",
            dependencies: [
                "ReconcileModel",
                "ReconcileShimCore",
                "CPidfd",
                "ReconcileSpawn",
                "ReconcileSecrets",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The parent process of each process-driver "container"; outlives the controller.
        // What the shim and the process driver share, on FoundationEssentials alone: the shim is
        // started once per process container, and its start is most of a task's cost.
        .target(name: "ReconcileShimCore"),
        .executableTarget(
            name: "reconcile-shim", dependencies: ["ReconcileShimCore", "ReconcileSpawn"],
            // Release builds link it statically (1.9 ms of CPU per start against 6 ms dynamic and 8 ms
            // when it carried the drivers and Foundation): the dynamic loader's relocations were most
            // of its start. Not in debug builds: the test bundles that depend on the shim would be
            // linked with these flags too. Linked by lld (the toolchain's): gold warned about the
            // `mktemp` FoundationEssentials' archive links, which nothing the shim runs calls.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-static-stdlib", "-use-ld=lld", "-Xlinker", "--start-group", "-lFoundationEssentials",
                        "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization", "-Xlinker",
                        "--end-group",
                    ], .when(configuration: .release))
            ]),
        // SQLite (GRDB): what no engine knows — passes, failed and last good revisions.
        .target(
            name: "ReconcileStore",
            dependencies: ["ReconcileModel", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // What the CLI shows and the API serves: views over the state directory, and actions on it.
        .target(
            name: "ReconcileAPI",
            dependencies: ["ReconcileModel", "ReconcilePlanner", "ReconcileStore", "ReconcileLogs"]
        ),
        // The web UI's pages: server-rendered HTML (swift-mustache templates), sessions and CSRF tokens.
        .target(
            name: "ReconcileWeb",
            dependencies: [
                "ReconcileModel", "ReconcilePlanner", "ReconcileStore", "ReconcileAPI", "ReconcileBuildInfo",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The published ports' router (SwiftNIO): tcp connections spliced to ready replicas, http
        // requests routed by Host over pooled keep-alive connections (TLS by SNI), drained before
        // a replica stops, held while none is ready.
        .target(
            name: "ReconcileRouter",
            dependencies: [
                "ReconcileModel", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // Release builds check exclusive access statically only: the dynamic checks were 8 % of the
            // router's user time per request (`reconcile-bench router`, perf). Every handler's state is
            // confined to its event loop and the shared state sits behind one Mutex; debug builds, and so
            // the test suite, keep the dynamic checks.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // Checks (log, HTTP, TCP, command), health probes, incidents from the pure conditions, and
        // notice delivery (SMTP through libcurl, webhooks) from the crash-safe outbox.
        .target(
            name: "ReconcileAlerts",
            dependencies: [
                "ReconcileModel", "ReconcilePlanner", "ReconcileDrivers", "ReconcileSecrets", "ReconcileSpawn",
                "ReconcileStore", "ReconcileLogs", "CSMTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The runtime: the controller loop, one observation per tick, the executor of app and DAG
        // actions (what the planners decided, carried out and persisted), log collection, metrics.
        .target(
            name: "ReconcileRuntime",
            dependencies: [
                "ReconcileModel", "ReconcilePlanner", "ReconcileDrivers", "ReconcileSecrets", "ReconcileGit",
                "ReconcileStore", "ReconcileLogs", "ReconcileAPI", "ReconcileRouter", "ReconcileAlerts",
                "ReconcileBuildInfo",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The controller's HTTP server: the API, the web UI's routes, push webhooks, /metrics, and
        // the connection bounds every unauthenticated client meets.
        .target(
            name: "ReconcileServer",
            dependencies: [
                "ReconcileModel", "ReconcilePlanner", "ReconcileStore", "ReconcileAPI", "ReconcileWeb",
                "ReconcileRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // Command-line parsing and output formatting only.
        .executableTarget(
            name: "reconcile",
            dependencies: [
                "ReconcileModel", "ReconcileManifest", "ReconcileGit", "ReconcilePlanner", "ReconcileRuntime",
                "ReconcileServer", "ReconcileSecrets", "ReconcileStore", "ReconcileLogs", "ReconcileAPI",
                "ReconcileBuildInfo",
                // Built beside the CLI: the process driver starts it.
                "reconcile-shim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Generates a large repository and times loading it (release build).
        .executableTarget(
            name: "reconcile-bench",
            dependencies: [
                "ReconcileModel", "ReconcileManifest", "ReconcileGit", "ReconcileDrivers", "ReconcilePlanner",
                "ReconcileRuntime", "ReconcileServer", "ReconcileAlerts", "ReconcileRouter", "ReconcileStore",
                "ReconcileLogs", "ReconcileAPI", "ReconcileWeb", "ReconcileTesting", "ReconcileSpawn",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Benchmarks/reconcile-bench"
        ),
        // Test helpers shared by the test targets.
        .target(
            name: "ReconcileTesting",
            dependencies: [
                "ReconcileDrivers", "ReconcileModel", "CSpawn",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ReconcileModelTests", dependencies: ["ReconcileModel", "ReconcileTesting"]),
        .testTarget(
            name: "ReconcilePlannerTests", dependencies: ["ReconcilePlanner", "ReconcileModel", "ReconcileTesting"]
        ),
        .testTarget(
            name: "ReconcileManifestTests",
            dependencies: ["ReconcileModel", "ReconcileManifest"],
            exclude: ["Corpus", "FuzzRegressions"]
        ),
        .testTarget(
            name: "ReconcileGitTests",
            dependencies: [
                "ReconcileGit", "ReconcileManifest", "ReconcileModel", "ReconcilePlanner", "ReconcileTesting",
            ]
        ),
        .testTarget(
            name: "ReconcileDriversTests",
            dependencies: [
                "ReconcileDrivers", "ReconcileModel", "ReconcileShimCore", "ReconcileTesting", "ReconcileSpawn",
                "reconcile-shim",
            ]
        ),
        .testTarget(
            name: "ReconcileControllerTests",
            dependencies: [
                "ReconcileRuntime", "ReconcileServer", "ReconcileAlerts", "ReconcileRouter", "ReconcileAPI",
                "ReconcileDrivers", "ReconcileModel", "ReconcilePlanner", "ReconcileTesting",
                "ReconcileStore", "ReconcileLogs", "ReconcileManifest", "reconcile-shim",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(name: "ReconcileLogsTests", dependencies: ["ReconcileLogs", "ReconcileTesting"]),
        .testTarget(
            name: "ReconcileStoreTests",
            dependencies: ["ReconcileStore", "ReconcileModel", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "ReconcileWebTests",
            dependencies: ["ReconcileWeb", "ReconcileAPI", "ReconcileStore", "ReconcileModel", "ReconcilePlanner"]
        ),
        .testTarget(
            name: "ReconcileCLITests",
            dependencies: [
                "reconcile", "reconcile-shim", "ReconcileTesting", "ReconcileDrivers", "ReconcileStore",
                "ReconcileRuntime", "ReconcileServer", "ReconcileGit", "ReconcileLogs",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
    ]
)

// One set of Swift settings for every target: Swift 6 mode, warnings are errors in CI.
for target in package.targets where target.type != .system && target.type != .plugin {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
