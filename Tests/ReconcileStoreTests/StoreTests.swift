import Foundation
import GRDB
import ReconcileModel
import ReconcileStore
import Testing

@Suite struct StoreTests {
    func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func passesAndRolloutsSurviveReopening() throws {
        let folder = try directory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let time = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let store = try Store(stateDirectory: folder)
            try store.record(
                Store.PassRecord(
                    startedAt: time, finishedAt: time.addingTimeInterval(1), commitID: "abc", actions: 3,
                    summary: "+ app web: 3 replicas", failures: ""))
            let good = AppSpec(
                name: "web", image: "web:1", secretEnv: ["TOKEN": .environment("WEB_TOKEN")], replicas: 3,
                health: HealthSpec(probe: .http(port: "http", path: "/healthz", expect: 200)))
            try store.recordGood(good, hash: "h1")
            try store.recordFailedRollout(app: "web", hash: "h2", at: time)
        }
        // A new process (a restarted controller) sees the same records.
        let reopened = try Store(stateDirectory: folder)
        let passes = try reopened.passes()
        #expect(passes.map(\.commitID) == ["abc"])
        #expect(passes.first?.actions == 3)
        let rollouts = try reopened.rollouts()
        #expect(rollouts.failed == ["web": "h2"])
        #expect(rollouts.good["web"]?.image == "web:1")
        #expect(rollouts.good["web"]?.secretEnv["TOKEN"] == .environment("WEB_TOKEN"))
        #expect(rollouts.good["web"]?.health?.probe == .http(port: "http", path: "/healthz", expect: 200))
    }
}

@Suite struct StoreOpeningTests {
    /// A controller and a CLI command opening a new state directory at once must both succeed
    /// (the migrations run once, under a lock).
    @Test func manyOpenersOfANewStateDirectoryAllSucceed() async throws {
        for _ in 0..<5 {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("open-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let results = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do {
                            _ = try Store(stateDirectory: folder)
                            return nil
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                var errors: [String] = []
                for await result in group { if let result { errors.append(result) } }
                return errors
            }
            #expect(results.isEmpty, "\(results)")
        }
    }

    /// An opener that migrates slowly (it holds the state directory's lock and a write
    /// transaction for longer than SQLite's 5 s busy timeout, as a migration on a loaded disk
    /// did) makes the others wait for it, not fail with "database is locked".
    @Test func anOpenerWaitsOutASlowMigration() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lock = open(folder + "/reconcile.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        #expect(flock(lock, LOCK_EX) == 0)
        let migrating = try DatabaseQueue(path: folder + "/reconcile.sqlite")
        let holding = Task.detached {
            try migrating.inDatabase { db in
                try db.execute(sql: "BEGIN EXCLUSIVE")
                try db.execute(sql: "CREATE TABLE slow (x)")
                Thread.sleep(forTimeInterval: 6.5)
                try db.execute(sql: "COMMIT")
            }
            flock(lock, LOCK_UN)
            close(lock)
        }
        try await Task.sleep(for: .milliseconds(300))
        let opened = await Task.detached { () -> String? in
            do {
                _ = try Store(stateDirectory: folder)
                return nil
            } catch {
                return "\(error)"
            }
        }.value
        try await holding.value
        #expect(opened == nil, "\(opened ?? "")")
    }

    /// No-op passes older than a day are dropped (every 500th insert); passes that did something
    /// or failed, recent ones, and each commit's first pass (when it was applied) stay.
    @Test func oldNoOpPassesArePruned() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(stateDirectory: folder)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<1000 {
            // Two days of passes, one every ~3 minutes; commit b from pass 300 on.
            let time = start.addingTimeInterval(Double(index) * 173)
            let acted = index % 100 == 50
            try store.record(
                Store.PassRecord(
                    startedAt: time, finishedAt: time, commitID: index < 300 ? "a" : "b", actions: acted ? 1 : 0,
                    summary: "", failures: index == 77 ? "boom" : ""))
        }
        let kept = try store.passes(limit: 10_000)
        let last = start.addingTimeInterval(999 * 173)
        #expect(kept.count < 1000)
        for pass in kept where pass.actions == 0 && pass.failures.isEmpty {
            // What stays of the no-op ones: recent as of the last prune (pass 1000), or a commit's first.
            let recent = pass.finishedAt >= last.addingTimeInterval(-Store.noOpPassRetention - 173)
            #expect(recent || pass.startedAt == start || pass.startedAt == start.addingTimeInterval(300 * 173))
        }
        #expect(kept.filter { $0.actions > 0 }.count == 10)
        #expect(kept.contains { $0.failures == "boom" })
        #expect(try store.firstPass(commit: "a") == start)
        #expect(try store.firstPass(commit: "b") == start.addingTimeInterval(300 * 173))
    }

    /// The state counts kept by triggers equal counting the rows, through a random sequence of new
    /// runs, finished runs, new and updated attempts, and reruns that clear attempts.
    @Test func stateCountsFollowEveryChange() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(stateDirectory: folder)
        var generator = SystemRandomNumberGenerator()
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let attemptStates: [AttemptRecord.State] = [.recorded, .running, .succeeded, .failed, .timedOut]
        var runIDs: [(dag: String, run: String)] = []
        for step in 0..<400 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0...2 where runIDs.count < 40 || runIDs.isEmpty:
                let dag = "d\(Int.random(in: 0..<3, using: &generator))"
                let run = "r\(step)"
                try store.addRun(
                    RunRecord(
                        dag: dag, runID: run, logicalDate: base.addingTimeInterval(Double(step)),
                        dataIntervalStart: base, dataIntervalEnd: base, commitID: "c", createdAt: base))
                runIDs.append((dag, run))
            case 3 where !runIDs.isEmpty:
                let pick = runIDs.randomElement(using: &generator)!
                try store.finishRun(
                    dag: pick.dag, runID: pick.run, state: Bool.random(using: &generator) ? .succeeded : .failed,
                    at: base, failure: nil)
            case 4 where !runIDs.isEmpty:
                let pick = runIDs.randomElement(using: &generator)!
                let tasks = Set(["a", "b", "c"].filter { _ in Bool.random(using: &generator) })
                try store.clearAttempts(dag: pick.dag, runID: pick.run, tasks: tasks)
            default:
                guard let pick = runIDs.randomElement(using: &generator) else { continue }
                let task = ["a", "b", "c"].randomElement(using: &generator)!
                let existing = try store.attempts(dag: pick.dag, runID: pick.run).filter { $0.task == task }
                let tryNumber =
                    Bool.random(using: &generator)
                    ? (existing.map(\.tryNumber).max() ?? 0) + 1
                    : (existing.map(\.tryNumber).max() ?? 1)
                try store.saveAttempts([
                    AttemptRecord(
                        dag: pick.dag, runID: pick.run, task: task, tryNumber: tryNumber, node: "n",
                        containerName: "\(pick.run)-\(task)-\(tryNumber)",
                        state: attemptStates.randomElement(using: &generator)!, startedAt: base)
                ])
            }
        }
        var runs: [String: Int] = [:]
        var attempts: [String: Int] = [:]
        for run in try store.runs(limit: 100_000) {
            runs[run.state.rawValue, default: 0] += 1
            for attempt in try store.attempts(dag: run.dag, runID: run.runID) where !attempt.cleared {
                attempts[attempt.state.rawValue, default: 0] += 1
            }
        }
        let counted = try store.stateCounts()
        #expect(counted.runs == runs)
        #expect(counted.attempts == attempts)
        #expect(!attempts.isEmpty && runs.count >= 2)
    }
}
