import Foundation
import ReconcileManifest
import Testing

/// Every input the fuzzer ever found to crash, hang or leak stays here as a test (see README).
@Suite struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("FuzzRegressions")

    static let inputs: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }()

    @Test(.timeLimit(.minutes(1)), arguments: inputs)
    func loadsWithoutCrashing(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        let result = ManifestLoader.load([
            ManifestFile(path: "fuzz.yaml", contents: String(decoding: data, as: UTF8.self))
        ])
        #expect((result.state == nil) == result.diagnostics.hasErrors)
    }
}
