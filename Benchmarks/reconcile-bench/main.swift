import Foundation
import ReconcileManifest

// Loads a generated repository of many apps, DAGs and checks and compares the time with a bare
// libyaml parse of the same files by Python's yaml.CSafeLoader, measured in the same run.
//
// Usage: reconcile-bench [--apps N] [--dags N] [--tasks N] [--checks N] [--runs N] [--keep DIR]

struct Options {
    var apps = 2000
    var dags = 300
    var tasks = 20
    var checks = 2000
    var runs = 7
    var keep: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--apps": apps = Int(value) ?? apps
            case "--dags": dags = Int(value) ?? dags
            case "--tasks": tasks = Int(value) ?? tasks
            case "--checks": checks = Int(value) ?? checks
            case "--runs": runs = Int(value) ?? runs
            case "--keep": keep = value
            default:
                FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

func write(_ text: String, to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
}

func generate(_ options: Options, into root: String) {
    let manager = FileManager.default
    for folder in ["nodes", "apps", "dags", "checks", "notifiers"] {
        try! manager.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
    }
    for index in 0..<8 {
        write(
            """
            kind: Node
            name: node-\(index)
            docker: tcp://127.0.0.1:\(2376 + index)
            capacity: { cpu: 64, memory: 256Gi }
            labels: { zone: z\(index % 3), disk: ssd }
            """, to: "\(root)/nodes/node-\(index).yaml")
    }
    write(
        """
        kind: Notifier
        name: team-email
        email:
          to: [team@example.com]
          from: reconcile@example.com
          smtp: { host: 127.0.0.1, port: 2525, starttls: false }
        ---
        kind: Notifier
        name: team-chat
        webhook: { url: env:CHAT_URL, format: slack }
        """, to: "\(root)/notifiers/notifiers.yaml")
    for index in 0..<options.apps {
        write(
            """
            kind: App
            name: app-\(index)
            image: registry.example/team/app-\(index):1.\(index % 50).0
            command: ["/bin/server", "--port", "8080", "--name", "app-\(index)"]
            env: { LOG_LEVEL: info, APP_INDEX: "\(index)" }
            secretEnv: { API_TOKEN: env:APP_TOKEN_\(index) }
            replicas: \(1 + index % 4)
            resources: { cpu: 250m, memory: 256Mi }
            ports:
              - { name: http, container: 8080, publish: \(20000 + index) }
            health:
              http: { port: http, path: /healthz, expect: 200 }
              interval: 5s
              timeout: 2s
              failureThreshold: 3
              startPeriod: 30s
            update: { maxSurge: 1, maxUnavailable: 0, minReadyTime: 10s, progressDeadline: 5m }
            placement: { require: { disk: ssd }, spread: true }
            restart: always
            alerts: [team-email]
            """, to: "\(root)/apps/app-\(index).yaml")
    }
    for index in 0..<options.dags {
        var text = """
            kind: DAG
            name: etl-\(index)
            schedule: "\(index % 60) \(index % 24) * * *"
            timezone: America/Vancouver
            start: 2026-01-01T00:00:00Z
            catchup: false
            maxActiveRuns: 1
            defaults:
              image: registry.example/team/etl:2.0
              retries: 2
              retryDelay: 5m
              retryBackoff: exponential
              maxRetryDelay: 1h
              timeout: 2h
              resources: { cpu: 1, memory: 1Gi }
            tasks:

            """
        for task in 0..<options.tasks {
            text += "  step-\(task):\n"
            if task > 0 { text += "    after: [step-\(task - 1)\(task > 2 ? ", step-\(task - 3)" : "")]\n" }
            text += "    command: [\"etl\", \"step-\(task)\", \"--since\", \"${DATA_INTERVAL_START}\"]\n"
        }
        text += "alerts: [team-email, team-chat]\n"
        write(text, to: "\(root)/dags/etl-\(index).yaml")
    }
    for index in 0..<options.checks {
        let body =
            index % 2 == 0
            ? "logs:\n  match: 'processed \\d+ events'\n  within: 10m"
            : "http: { url: http://127.0.0.1:\(20000 + index % options.apps)/healthz, expect: 200, bodyMatch: ok }"
        write(
            """
            kind: Check
            name: check-\(index)
            app: app-\(index % options.apps)
            \(body)
            interval: 1m
            timeout: 10s
            failAfter: 3
            passAfter: 1
            alerts: [team-email, team-chat]
            """, to: "\(root)/checks/check-\(index).yaml")
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func peakResidentMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
}

let options = Options(CommandLine.arguments)
let root = options.keep ?? NSTemporaryDirectory() + "reconcile-bench-\(getpid())"
try? FileManager.default.removeItem(atPath: root)
generate(options, into: root)
defer { if options.keep == nil { try? FileManager.default.removeItem(atPath: root) } }

// Baseline: Python's libyaml-backed CSafeLoader parsing the same files, in the same run.
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("yaml_baseline.py").path
let python = Process()
python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
python.arguments = ["python3", script, root, String(options.runs)]
let pipe = Pipe()
python.standardOutput = pipe
try python.run()
python.waitUntilExit()
let baselineText = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
guard python.terminationStatus == 0, let baseline = Double(baselineText.trimmingCharacters(in: .whitespacesAndNewlines))
else {
    print("baseline failed (python3 with PyYAML built with libyaml is required): \(baselineText)")
    exit(1)
}

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
