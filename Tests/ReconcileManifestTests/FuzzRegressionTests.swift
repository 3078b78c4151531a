import Foundation
import ReconcileManifest
import ReconcileModel
import Testing

/// Every input the fuzzer ever found to crash, hang or leak stays here as a test (see README), with
/// the seed inputs (`seed-*`: hostile shapes such as alias bombs, deep nesting, NUL bytes, invalid
/// UTF-8) so the folder is never empty. Each input gets the fuzz target's own checks.
@Suite struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("FuzzRegressions")

    static let inputs: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }()

    /// The folder is read (a missing folder or an ignored file would make the test below run zero cases).
    @Test func theRegressionFolderHoldsTheSeedsAndEveryCrasher() {
        let seeds = Self.inputs.filter { $0.hasPrefix("seed-") }
        #expect(seeds.count >= 14, "FuzzRegressions/ has \(seeds.count) seed inputs: \(Self.inputs)")
    }

    @Test(.timeLimit(.minutes(1)), arguments: inputs)
    func loadsWithoutCrashing(_ name: String) throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        let text = String(decoding: data, as: UTF8.self)
        let result = ManifestLoader.load([ManifestFile(path: "fuzz.yaml", contents: text)])
        #expect((result.state == nil) == result.diagnostics.hasErrors)
        for diagnostic in result.diagnostics {
            #expect(diagnostic.location.file == "fuzz.yaml")
            #expect(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "\(diagnostic)")
        }
        // The value parsers, on the first line, as the fuzz target does.
        let firstLine = String(text.prefix { $0 != "\n" }.prefix(200))
        if let cron = try? CronSchedule(parsing: firstLine) {
            let zone = try TimeZoneName.zone(named: "America/Vancouver")
            _ = cron.nextFireTimes(after: Date(timeIntervalSince1970: 1_800_000_000), in: zone, count: 3)
        }
        _ = try? Timespan(parsing: firstLine)
        _ = try? MemoryQuantity(parsing: firstLine)
        _ = try? CPUQuantity(parsing: firstLine)
    }
}
