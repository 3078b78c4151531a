import Foundation

/// `reconcile-bench scale`: how each cost grows with the work. Every curve is printed as a markdown
/// table (with its same-run baselines) and, with `--svg DIR`, drawn as DIR/<curve>.svg next to
/// DIR/<curve>.md. `--only pass,repo,history,logs` picks curves; `--quick` uses the two
/// smallest sizes of each (a smoke run).
func runScaleBenchmark(_ options: Options) async throws {
    let all = ["pass", "repo", "history", "logs"]
    let chosen = options.only.map { $0.split(separator: ",").map(String.init) } ?? all
    for name in chosen where !all.contains(name) {
        throw BenchError("unknown curve \(name); the curves are \(all.joined(separator: ", "))")
    }
    func sizes(_ values: [Int]) -> [Int] { options.quick ? Array(values.prefix(2)) : values }
    let repeats = options.quick ? 3 : 5
    print("reconcile-bench scale on \(machineDescription())")
    var curves: [Curve] = []
    for name in chosen {
        let began = DispatchTime.now().uptimeNanoseconds
        print("\(name):")
        fflush(nil)
        switch name {
        case "pass":
            curves +=
                (try measurePassCurve(
                    appCounts: sizes([1_000, 5_000, 10_000, 20_000]), nodeCounts: [10, 50, 200],
                    latency: .milliseconds(2), repeats: repeats))
        case "history":
            curves += (try measureHistoryCurve(attemptCounts: sizes([10_000, 100_000, 1_000_000]), repeats: repeats))
        case "repo":
            curves.append(
                try await measureRepositoryCurve(fileCounts: sizes([1_000, 5_000, 20_000]), repeats: repeats))
        case "logs":
            curves.append(try await measureIngestCurve(replicaCounts: sizes([10, 50, 200]), window: 20))
            curves.append(try measureSearchCurve(mebibytes: sizes([256, 1024, 4096, 16384]), repeats: 3))
        default:
            break
        }
        print(String(format: "  (%.0f s)", seconds(since: began)))
    }
    for curve in curves {
        print("\n" + curve.markdown)
        if let folder = options.svg {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try SVGChart.render(curve).write(toFile: "\(folder)/\(curve.id).svg", atomically: true, encoding: .utf8)
            try curve.markdown.write(toFile: "\(folder)/\(curve.id).md", atomically: true, encoding: .utf8)
        }
    }
}

/// The CPU model, core count and memory of this machine, for the record.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
        cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
        .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    let memory = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return String(
        format: "%@, %d cores, %.0f GiB RAM, %@", model, ProcessInfo.processInfo.activeProcessorCount, memory,
        ProcessInfo.processInfo.operatingSystemVersionString)
}
