import Foundation
import ReconcileManifest

/// Load + validate of a generated repository against a bare libyaml parse of the same files.
func runLoadBenchmark(_ options: Options) throws {
    let root = options.keep ?? NSTemporaryDirectory() + "reconcile-bench-\(getpid())"
    try? FileManager.default.removeItem(atPath: root)
    generate(options, into: root)
    defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: root) } }

    let baseline = try pythonParseSeconds(root: root, runs: options.runs)

    var times: [Double] = []
    var documents = 0
    for _ in 0..<options.runs {
        let start = DispatchTime.now().uptimeNanoseconds
        let (files, extra) = try ManifestDirectory.read(root: root)
        let result = ManifestLoader.load(files, extraDiagnostics: extra)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard let state = result.state else {
            print(
                "generated repository is invalid:\n"
                    + result.diagnostics.prefix(10).map(\.description).joined(separator: "\n"))
            exit(1)
        }
        documents = state.nodes.count + state.apps.count + state.dags.count + state.checks.count + state.notifiers.count
        times.append(elapsed)
    }
    let ours = median(times)
    print(
        "repository: \(options.apps) apps, \(options.dags) DAGs x \(options.tasks) tasks, \(options.checks) checks (\(documents) documents)"
    )
    print(String(format: "python yaml.CSafeLoader parse only: median %.3f s over %d runs", baseline, options.runs))
    print(
        String(
            format: "reconcile load + validate:          median %.3f s over %d runs (min %.3f, max %.3f)", ours,
            options.runs, times.min()!, times.max()!))
    print(String(format: "ratio (reconcile / bare parse): %.2fx", ours / baseline))
    print(String(format: "peak resident memory: %.0f MiB", peakResidentMiB()))

}

/// Baseline: Python's libyaml-backed CSafeLoader parsing the same files (median of `runs`, seconds).
func pythonParseSeconds(root: String, runs: Int) throws -> Double {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("yaml_baseline.py").path
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = ["python3", script, root, String(runs)]
    let pipe = Pipe()
    python.standardOutput = pipe
    try python.run()
    python.waitUntilExit()
    let baselineText = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard python.terminationStatus == 0,
        let baseline = Double(baselineText.trimmingCharacters(in: .whitespacesAndNewlines))
    else {
        throw BenchError("baseline failed (python3 with PyYAML built with libyaml is required): \(baselineText)")
    }
    return baseline
}
