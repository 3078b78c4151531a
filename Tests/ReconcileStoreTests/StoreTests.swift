import Foundation
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
}
