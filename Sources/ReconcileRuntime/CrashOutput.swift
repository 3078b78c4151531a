import Foundation
import ReconcileDrivers
import ReconcilePlanner
import Synchronization

/// The last lines of output of crash-looping replicas, for the `crashloop/APP` notice: read from
/// the exited replica's node once per replica (an exited replica's output does not change) and
/// kept while it is the one reported.
final class CrashOutput: Sendable {
    /// Lines quoted in a notice.
    static let lines = 5
    private let cache = Mutex<[String: [String]]>([:])
    /// Per App, the last crash seen with its exit code: a restarted replica still in the loop is
    /// reported with it.
    private let lastExit = Mutex<[String: AppFacts.CrashLoop]>([:])

    /// `facts` with each crash loop's `lastOutput` filled in where its replica can be read.
    func fill(_ facts: [String: AppFacts], drivers: [String: any ContainerDriver]) async -> [String: AppFacts] {
        var filled = facts
        var wanted: Set<String> = []
        for (app, fact) in facts {
            guard let loop = fact.crashLoop else { continue }
            guard let id = loop.containerID, let node = loop.node else {
                // A restarted replica of the loop: the last exit seen stands for it.
                if let last = lastExit.withLock({ $0[app] }) {
                    filled[app]?.crashLoop?.exitCode = last.exitCode
                    filled[app]?.crashLoop?.lastOutput = last.lastOutput
                }
                continue
            }
            wanted.insert(id)
            var lines = cache.withLock { $0[id] }
            if lines == nil, let driver = drivers[node], let output = try? await driver.logs(id, since: nil) {
                lines = output.suffix(Self.lines).map { String($0.text.prefix(500)) }
                cache.withLock { $0[id] = lines }
            }
            filled[app]?.crashLoop?.lastOutput = lines ?? []
            if let loop = filled[app]?.crashLoop { lastExit.withLock { $0[app] = loop } }
        }
        // Replicas no longer reported, and Apps out of their loop, are forgotten.
        cache.withLock { cache in cache = cache.filter { wanted.contains($0.key) } }
        lastExit.withLock { last in last = last.filter { facts[$0.key]?.crashLoop != nil } }
        return filled
    }
}
