// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for the manifest loader. Build and run as described in the README's
// "Fuzzing" section; the flags (-sanitize=fuzzer,address) are passed on the command line.
let package = Package(
    name: "reconcile-fuzz",
    dependencies: [.package(name: "reconcile", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzManifestLoader",
            dependencies: [
                .product(name: "ReconcileManifest", package: "reconcile"),
                .product(name: "ReconcileModel", package: "reconcile"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
