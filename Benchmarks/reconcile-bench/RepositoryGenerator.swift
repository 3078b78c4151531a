import Foundation

struct Options {
    var apps = 2000
    var dags = 300
    var tasks = 20
    var checks = 2000
    var runs = 7
    var keep: String?
    var files = 5000
    var seconds = 600
    var svg: String?
    var only: String?
    var quick = false
    var nodes = 10
    var latencyMilliseconds = 2
    var inspectEach = false
    var docker = false

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            switch flag {
            case "--quick": quick = true
            case "--inspect-each": inspectEach = true
            case "--docker": docker = true
            default: break
            }
            if ["--quick", "--inspect-each", "--docker"].contains(flag) { continue }
            let value = iterator.next() ?? ""
            switch flag {
            case "--apps": apps = Int(value) ?? apps
            case "--dags": dags = Int(value) ?? dags
            case "--tasks": tasks = Int(value) ?? tasks
            case "--checks": checks = Int(value) ?? checks
            case "--runs": runs = Int(value) ?? runs
            case "--keep": keep = value
            case "--files": files = Int(value) ?? files
            case "--seconds": seconds = Int(value) ?? seconds
            case "--svg": svg = value
            case "--only": only = value
            case "--nodes": nodes = Int(value) ?? nodes
            case "--latency-ms": latencyMilliseconds = Int(value) ?? latencyMilliseconds
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

/// Where App `index`'s file is: `apps/app-N.yaml`, or with `folderSize` in folders of that many
/// (`apps/group-G/app-N.yaml`), as a team with thousands of services would keep them.
func appPath(_ index: Int, folderSize: Int? = nil) -> String {
    guard let folderSize else { return "apps/app-\(index).yaml" }
    return "apps/group-\(index / folderSize)/app-\(index).yaml"
}

func generate(_ options: Options, into root: String, folderSize: Int? = nil) {
    let manager = FileManager.default
    for folder in ["nodes", "apps", "dags", "checks", "notifiers"] {
        try! manager.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
    }
    if let folderSize {
        for group in 0...(options.apps / folderSize) {
            try! manager.createDirectory(atPath: root + "/apps/group-\(group)", withIntermediateDirectories: true)
        }
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
            """, to: "\(root)/" + appPath(index, folderSize: folderSize))
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
