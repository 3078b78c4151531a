import Foundation
import ReconcileManifest
import Testing

/// Golden tests: each folder under Corpus/ is a repository with one kind of mistake, and
/// `expected.txt` holds the exact diagnostics (file:line:col: error: message) it must produce.
@Suite struct BrokenManifestCorpusTests {
    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.corpus.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }()

    @Test func corpusCoversEveryMistakeClass() {
        #expect(Self.cases.count >= 81, "the corpus has \(Self.cases.count) cases")
    }

    @Test(.timeLimit(.minutes(1)), arguments: cases)
    func reportsExactDiagnostics(_ name: String) throws {
        let folder = TestPaths.corpus.appendingPathComponent(name)
        let expected = try String(contentsOf: folder.appendingPathComponent("expected.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let (files, readProblems) = try ManifestDirectory.read(root: folder.path)
        let result = ManifestLoader.load(
            files, repository: ManifestDirectory.repository(root: folder.path), extraDiagnostics: readProblems)
        #expect(result.state == nil, "an invalid repository must not produce a desired state")
        #expect(!expected.isEmpty)
        #expect(result.diagnostics.map(\.description) == expected)
    }
}
