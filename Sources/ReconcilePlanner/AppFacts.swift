import Foundation
import ReconcileModel

/// What a pass saw of one App, for its conditions: how many replicas are ready, whether a slot
/// crash-loops, and why replicas cannot be placed.
public struct AppFacts: Sendable, Hashable {
    public struct CrashLoop: Sendable, Hashable {
        /// Crashes in a row of the worst slot (each after running less than `restartBackoffReset`).
        public var restarts: Int
        public var slot: Int
        /// The last exit code seen, and the exited replica it came from (for its last output).
        public var exitCode: Int?
        public var containerID: String?
        public var node: String?
        /// Its last lines of output (filled in by the runtime, which can read them).
        public var lastOutput: [String]
        /// The last exit was the kernel's kill at the memory limit.
        public var outOfMemory: Bool

        public init(
            restarts: Int, slot: Int, exitCode: Int? = nil, containerID: String? = nil, node: String? = nil,
            lastOutput: [String] = [], outOfMemory: Bool = false
        ) {
            self.outOfMemory = outOfMemory
            self.restarts = restarts
            self.slot = slot
            self.exitCode = exitCode
            self.containerID = containerID
            self.node = node
            self.lastOutput = lastOutput
        }
    }

    public var ready: Int
    public var crashLoop: CrashLoop?
    /// The ledger's reason when replicas cannot be placed.
    public var unplaceable: String?

    public init(ready: Int, crashLoop: CrashLoop? = nil, unplaceable: String? = nil) {
        self.ready = ready
        self.crashLoop = crashLoop
        self.unplaceable = unplaceable
    }

    /// A slot crash-loops from this many crashes in a row.
    public static let crashLoopRestarts = 3

    /// Per App of `desired`: ready replicas (any revision), the worst crash-looping slot, and the
    /// plan's unplaceable reason (pure).
    public static func derive(
        desired: DesiredState, observed: Observed, plan: Plan, options: PlannerOptions = PlannerOptions(), now: Date
    ) -> [String: AppFacts] {
        let byApp = Dictionary(grouping: observed.containers, by: \.app)
        let unplaceable = Dictionary(
            plan.changes.filter { !$0.unplaceable.isEmpty }.map { ($0.app, $0.unplaceable) },
            uniquingKeysWith: { a, _ in a })
        var facts: [String: AppFacts] = [:]
        for app in desired.apps {
            let containers = byApp[app.name] ?? []
            var fact = AppFacts(ready: containers.filter { $0.isRunning && $0.readySince != nil }.count)
            for container in containers {
                // Crashes in a row of the slot: those before this replica, and its own exit.
                var crashes = container.restarts
                var code: Int?
                switch container.status {
                case .exited(let exit, let at):
                    // A replica that ran long before it exited starts a new sequence.
                    if let started = container.startedAt,
                        at.timeIntervalSince(started) >= options.restartBackoffReset.seconds
                    {
                        continue
                    }
                    crashes += 1
                    code = exit
                case .running:
                    // Running long enough since its restart: the loop is over.
                    if let started = container.startedAt,
                        now.timeIntervalSince(started) >= options.restartBackoffReset.seconds
                    {
                        continue
                    }
                }
                guard crashes >= crashLoopRestarts else { continue }
                if let worst = fact.crashLoop, (worst.exitCode != nil && code == nil) || worst.restarts > crashes {
                    continue
                }
                fact.crashLoop = CrashLoop(
                    restarts: crashes, slot: container.slot, exitCode: code,
                    containerID: code == nil ? nil : container.id,
                    node: container.node, outOfMemory: code != nil && container.outOfMemory)
            }
            if let reasons = unplaceable[app.name] {
                let distinct = Array(Set(reasons.map(\.reason))).sorted()
                fact.unplaceable =
                    "\(reasons.count) replica\(reasons.count == 1 ? "" : "s"): \(distinct.joined(separator: "; "))"
            }
            facts[app.name] = fact
        }
        return facts
    }
}
