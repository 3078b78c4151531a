import Foundation
import ReconcileTesting
import Testing

/// Package.swift: every target lists exactly the modules it imports — no dependency it never
/// imports, no module it imports only through another target.
@Suite struct PackageManifestTests {
    /// Modules of the toolchain and the system: not package dependencies.
    static let system: Set<String> = [
        "Foundation", "FoundationEssentials", "Dispatch", "Glibc", "Musl", "Testing", "XCTest", "Synchronization",
        "_Concurrency", "Darwin", "os",
    ]

    @Test func everyTargetListsWhatItImportsAndNothingElse() throws {
        let root = CLITests.packageRoot
        // A scratch folder of its own: the package's .build is locked by the `swift test` running this.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dump-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let dump = try Command.run(
            ["swift", "package", "--scratch-path", scratch.path, "--disable-dependency-cache", "dump-package"], in: root
        )
        try #require(dump.status == 0, "\(dump.stderr)")
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        let targets = try #require(manifest["targets"] as? [[String: Any]])
        let targetNames = Set(targets.compactMap { $0["name"] as? String })
        var problems: [String] = []
        for target in targets {
            guard let name = target["name"] as? String, let type = target["type"] as? String else { continue }
            let folder = root.appendingPathComponent((type == "test" ? "Tests/" : "Sources/") + name)
            var imports: Set<String> = []
            let files = FileManager.default.enumerator(atPath: folder.path)
            while let file = files?.nextObject() as? String {
                guard file.hasSuffix(".swift"),
                    let text = try? String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                else { continue }
                // Imports are top-level: at the start of a line (code in string literals is indented).
                for line in text.split(separator: "\n") where !line.hasPrefix(" ") {
                    let words = line.split(separator: " ").filter {
                        !["@testable", "internal", "public", "package", "private", "@_exported"].contains($0)
                    }
                    if words.count >= 2, words[0] == "import" { imports.insert(String(words[1])) }
                }
            }
            guard !imports.isEmpty else { continue }  // C and resource-only targets
            var listed: Set<String> = []
            for dependency in (target["dependencies"] as? [[String: Any]]) ?? [] {
                for key in ["byName", "target", "product"] {
                    if let entry = dependency[key] as? [Any], let module = entry.first as? String {
                        listed.insert(module.replacingOccurrences(of: "-", with: "_"))
                    }
                }
            }
            // Executables built beside another (reconcile-shim) are listed without being imported.
            let executables = Set(
                targets.filter { ($0["type"] as? String) == "executable" }.compactMap { $0["name"] as? String }
            ).map { $0.replacingOccurrences(of: "-", with: "_") }
            let unused = listed.subtracting(imports).subtracting(executables).sorted()
            let unlisted = imports.subtracting(listed).subtracting(Self.system).filter {
                targetNames.contains($0) || !$0.hasPrefix("C")
            }.sorted()
            if !unused.isEmpty { problems.append("\(name) lists but never imports \(unused)") }
            if !unlisted.isEmpty { problems.append("\(name) imports but does not list \(unlisted)") }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
