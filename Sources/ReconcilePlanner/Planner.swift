import Foundation
import ReconcileModel

/// `plan(desired, observed, now)`: a pure function from what git asks for and what runs to the
/// actions of one pass. No I/O, no clock, no logging; every pass plans from scratch, so an
/// interrupted pass is finished by the next one.
public enum Planner {
    /// - Parameter hashes: each App's `SpecHash` by name, when the caller has them (a pass keeps
    ///   them from one to the next); an App missing here is hashed now.
    public static func plan(
        desired: DesiredState, observed: Observed, failedRollouts: [String: String] = [:],
        previous: [String: AppSpec] = [:], now: Date, options: PlannerOptions = PlannerOptions(),
        hashes: [String: String] = [:]
    ) -> Plan {
        // Nodes unreachable past the grace period are lost: their replicas are started elsewhere.
        let lost = Set(
            observed.nodes.filter { node in
                guard let since = node.unreachableSince else { return false }
                return now.timeIntervalSince(since) >= options.nodeLostAfter.seconds
            }.map(\.name))
        let placeable = Set(observed.nodes.filter { $0.unreachableSince == nil }.map(\.name))
        let live = lost.isEmpty ? observed.containers : observed.containers.filter { !lost.contains($0.node) }
        var ledger = NodeLedger(observed: observed.nodes, replicas: live)
        var actions: [PlanAction] = []
        var changes: [AppChange] = []
        var unchanged: [String] = []

        // Draining nodes (and their deadlines): their replicas are replaced elsewhere like a rolling update.
        var draining: [String: Date?] = [:]
        for node in observed.nodes where !node.schedulable { draining[node.name] = node.drainDeadline }
        let byApp = Dictionary(grouping: live, by: \.app)
        var decisions: [(planner: AppPlanner, decision: AppDecision)] = []
        for wanted in desired.apps.sorted(by: { $0.name < $1.name }) {
            // A revision that failed its rollout is not tried again; with the last good spec known,
            // that spec is the target (a rolling update back to it), else what runs is kept.
            var app = wanted
            var hash = hashes[wanted.name] ?? SpecHash.of(wanted)
            if let failed = failedRollouts[wanted.name], failed == hash, var good = previous[wanted.name] {
                good.replicas = wanted.replicas
                app = good
                hash = SpecHash.of(good)
            }
            let planner = AppPlanner(
                app: app, hash: hash, containers: byApp[app.name] ?? [], failedHash: failedRollouts[app.name],
                previous: previous[app.name], now: now, options: options, draining: draining)
            let decision = planner.decide()
            actions += decision.actions
            decisions.append((planner, decision))
        }

        // Place every new replica of the pass, largest first (first-fit decreasing packs nodes tightly).
        let largest = ledger.largest
        func size(_ resources: Resources) -> Double {
            max(
                Double(resources.cpu.millicores) / Double(largest.cpu),
                Double(resources.memory.bytes) / Double(largest.memory))
        }
        // The node target: all requests (running, as booked, and new) over the largest node, rounded up.
        var total = ledger.booked
        for entry in decisions {
            let count = Int64(entry.decision.slotsToStart.count)
            total.cpu += entry.planner.app.resources.cpu.millicores * count
            total.memory += entry.planner.app.resources.memory.bytes * count
        }
        // ...but never fewer than the largest spread App needs to put each replica on its own node.
        let widestSpread = desired.apps.filter(\.placement.spread).map(\.replicas).max() ?? 1
        ledger.nodeTarget = max(widestSpread, ledger.nodesFor(total))
        var requests: [(index: Int, slot: Int)] = []
        for (index, entry) in decisions.enumerated() {
            for slot in entry.decision.slotsToStart { requests.append((index, slot)) }
        }
        let sizes = decisions.map { size($0.planner.app.resources) }
        requests.sort { a, b in
            if sizes[a.index] != sizes[b.index] { return sizes[a.index] > sizes[b.index] }
            return (a.index, a.slot) < (b.index, b.slot)
        }
        var spread: [String: [String: Int]] = [:]
        for container in live where container.isRunning {
            spread[container.app, default: [:]][container.node, default: 0] += 1
        }
        var placed: [Int: [(slot: Int, placement: NodeLedger.Placement)]] = [:]
        var unplaceable: [Int: [Unplaceable]] = [:]
        for request in requests {
            let app = decisions[request.index].planner.app
            let demand = NodeLedger.Demand.replica(of: app, spread: spread[app.name] ?? [:])
            switch ledger.place(demand) {
            case .success(let placement):
                spread[app.name, default: [:]][placement.node, default: 0] += 1
                placed[request.index, default: []].append((request.slot, placement))
            case .failure(let unfit):
                unplaceable[request.index, default: []].append(
                    Unplaceable(app: app.name, reason: unfit.reason, rejected: unfit.rejected))
                // Apps before tasks: the nodes that could run it are held for it.
                ledger.hold(demand, for: app.name)
            }
        }
        for (index, entry) in decisions.enumerated() {
            let planner = entry.planner
            let placements = (placed[index] ?? []).sorted { $0.slot < $1.slot }
            for placement in placements {
                actions.append(
                    .start(
                        StartContainer(
                            app: planner.app.name, slot: placement.slot, specHash: planner.hash,
                            node: placement.placement.node,
                            name: "\(planner.app.name)-\(placement.slot)-\(planner.hash.prefix(8))",
                            resources: planner.app.resources,
                            restarts: entry.decision.restarts[placement.slot] ?? 0, placement: placement.placement)))
            }
            if let change = planner.change(
                entry.decision, placedOn: placements.map(\.placement.node), unplaceable: unplaceable[index] ?? [])
            {
                changes.append(change)
            } else {
                unchanged.append(planner.app.name)
            }
        }

        let desiredNames = Set(desired.apps.map(\.name))
        let orphans = Dictionary(grouping: observed.containers.filter { !desiredNames.contains($0.app) }, by: \.app)
        for (app, containers) in orphans.sorted(by: { $0.key < $1.key }) {
            for container in containers.sorted(by: { $0.slot < $1.slot }) where !lost.contains(container.node) {
                actions.append(
                    .stop(
                        StopContainer(
                            app: app, containerID: container.id, node: container.node, reason: .removedFromGit,
                            grace: .seconds(30))))
            }
            let count = containers.count
            changes.append(
                AppChange(
                    app: app, kind: .removed, summary: "app \(app): \(count) container\(count == 1 ? "" : "s") removed",
                    unplaceable: []))
        }
        // A node that does not answer cannot be asked to stop anything: those stops wait for it to
        // answer again (or for the node to be declared lost, when its replicas are replaced elsewhere).
        actions.removeAll { action in
            if case .stop(let stop) = action { return !placeable.contains(stop.node) } else { return false }
        }
        return Plan(
            actions: actions, changes: changes.sorted { $0.app < $1.app }, unchanged: unchanged, ledger: ledger)
    }
}

/// What one App needs this pass, before placement.
struct AppDecision {
    var actions: [PlanAction]
    var slotsToStart: [Int] = []
    var old: [ObservedContainer] = []
    var current = 0
    var scaledDown = 0
    var crashed = 0
    /// Crash restarts so far of the slots restarted this pass (the new replica's count).
    var restarts: [Int: Int] = [:]
    /// Slots whose exited replica waits out its crash-loop backoff, described.
    var backingOff: [String] = []
    /// A change decided without placement (rollback, waiting on a deadline).
    var early: AppChange?
}

/// The decisions for one App: one small record per replica slot.
struct AppPlanner {
    let app: AppSpec
    let hash: String
    let containers: [ObservedContainer]
    let failedHash: String?
    let previous: AppSpec?
    let now: Date
    let options: PlannerOptions
    /// Draining nodes and their deadlines.
    let draining: [String: Date?]

    /// - Parameter hash: the App's `SpecHash`, when the caller has it already.
    init(
        app: AppSpec, hash: String? = nil, containers: [ObservedContainer], failedHash: String?, previous: AppSpec?,
        now: Date, options: PlannerOptions, draining: [String: Date?] = [:]
    ) {
        self.draining = draining
        self.options = options
        self.app = app
        self.hash = hash ?? SpecHash.of(app)
        self.containers = containers
        self.failedHash = failedHash
        self.previous = previous
        self.now = now
    }

    func isReady(_ container: ObservedContainer) -> Bool {
        guard container.isRunning, let since = container.readySince else { return false }
        return now.timeIntervalSince(since) >= app.update.minReadyTime.seconds
    }

    /// On a draining node: to be replaced elsewhere.
    func isMoving(_ container: ObservedContainer) -> Bool { draining[container.node] != nil }

    /// On a draining node whose deadline has passed: stopped whether or not its replacement is ready.
    func pastDrainDeadline(_ container: ObservedContainer) -> Bool {
        guard let entry = draining[container.node], let deadline = entry else { return false }
        return now >= deadline
    }

    func stop(_ container: ObservedContainer, _ reason: StopContainer.Reason) -> PlanAction {
        .stop(
            StopContainer(
                app: app.name, containerID: container.id, node: container.node, reason: reason,
                grace: app.update.stopGracePeriod))
    }

    func decide() -> AppDecision {
        var actions: [PlanAction] = []
        let replicas = app.replicas
        // A revision that already failed is not rolled out again: keep (or restore) the old one.
        let target = (failedHash == hash) ? nil : hash
        // Replicas on a draining node are replaced like an old revision: within maxSurge and
        // maxUnavailable, each stopped once its replacement is ready (or at the drain's deadline).
        var current = containers.filter { $0.specHash == target && !isMoving($0) }
        var old = containers.filter { $0.specHash != target || isMoving($0) }

        // Exited replicas: restart per policy (remove and start again in the same slot), each slot
        // after its crash-loop backoff; until then the exited replica keeps its slot.
        var crashed = 0
        var restarted: Set<String> = []
        var restarts: [Int: Int] = [:]
        var backingOff: [String] = []
        for container in current.sorted(by: { $0.slot < $1.slot }) where !container.isRunning {
            if case .exited(let code, let at) = container.status,
                app.restart == .always || (app.restart == .onFailure && code != 0)
            {
                let ranLong =
                    container.startedAt.map { at.timeIntervalSince($0) >= options.restartBackoffReset.seconds }
                    ?? false
                let sequence = ranLong ? 0 : container.restarts
                let due = at.addingTimeInterval(options.backoff(restarts: sequence))
                if now < due {
                    // Stable from pass to pass (no countdown), so a controller reports it once.
                    let backoff = Timespan(milliseconds: Int64(options.backoff(restarts: sequence) * 1000))
                    let restarts = "\(sequence) restart\(sequence == 1 ? "" : "s")"
                    backingOff.append(
                        "replica \(container.slot) crash-looping (exit \(code)\(container.outOfMemory ? ", out of memory" : ""), "
                            + "\(restarts)); backing off \(backoff)")
                    continue
                }
                actions.append(stop(container, .crashed))
                restarted.insert(container.id)
                restarts[container.slot] = sequence + 1
                crashed += 1
            }
        }
        // Exited replicas the policy leaves alone keep their slot.
        current.removeAll { restarted.contains($0.id) }

        // Scale down and duplicates: keep one current replica per slot below `replicas`.
        var bySlot: [Int: ObservedContainer] = [:]
        var scaledDown = 0
        for container in current.sorted(by: { ($0.slot, $0.id) < ($1.slot, $1.id) }) {
            if container.slot >= replicas {
                actions.append(stop(container, .scaledDown))
                scaledDown += 1
            } else if bySlot[container.slot] != nil {
                actions.append(stop(container, .duplicate))
            } else {
                bySlot[container.slot] = container
            }
        }
        for container in old where container.slot >= replicas {
            actions.append(stop(container, .scaledDown))
            scaledDown += 1
        }
        old.removeAll { $0.slot >= replicas }

        guard let target else {
            // The target failed: old replicas (if any) stay; nothing new starts.
            let summary = "app \(app.name): revision \(hash.prefix(8)) failed and was rolled back; commit a fix"
            return AppDecision(
                actions: actions, early: AppChange(app: app.name, kind: .rolledBack, summary: summary, unplaceable: []))
        }

        // Rollout deadline: the new revision has had its progressDeadline and is still not all ready.
        // Every container of the new revision counts (crashed ones too), but not those on a draining node.
        let rolloutStart = containers.filter { $0.specHash == target && !isMoving($0) }.compactMap(\.startedAt).min()
        let allReady = bySlot.count == replicas && bySlot.values.allSatisfy(isReady)
        // Only a new revision can miss its deadline; moving replicas off a draining node cannot.
        if old.contains(where: { $0.specHash != target }), !allReady, let rolloutStart,
            now.timeIntervalSince(rolloutStart) > app.update.progressDeadline.seconds
        {
            if app.update.autoRollback {
                actions.append(.rollback(app: app.name, failedHash: target))
                for container in containers where container.specHash == target {
                    actions.append(stop(container, .rolledBack))
                }
                let summary =
                    "app \(app.name): revision \(target.prefix(8)) missed its progress deadline of "
                    + "\(app.update.progressDeadline); rolling back to \(old[0].specHash.prefix(8))"
                return AppDecision(
                    actions: actions,
                    early: AppChange(app: app.name, kind: .rolledBack, summary: summary, unplaceable: []))
            }
            let summary =
                "app \(app.name): revision \(target.prefix(8)) missed its progress deadline (autoRollback off)"
            return AppDecision(
                actions: actions, early: AppChange(app: app.name, kind: .waiting, summary: summary, unplaceable: []))
        }
        let missingSlots = (0..<replicas).filter { bySlot[$0] == nil }
        var starts: [Int] = []
        if old.isEmpty {
            starts = missingSlots
        } else {
            // Rolling update: stay within replicas + maxSurge containers and keep at least
            // replicas - maxUnavailable of them ready.
            let readyNew = bySlot.values.filter(isReady).count
            let readyOld = old.filter { $0.isRunning && $0.readySince != nil }.count
            let minimumAvailable = replicas - app.effectiveUpdate.maxUnavailable
            var stoppable = max(0, readyNew + readyOld - minimumAvailable)
            // Old replicas that are not ready cost no availability: stop them first.
            let ordered = old.sorted {
                ($0.readySince == nil ? 0 : 1, $0.slot) < ($1.readySince == nil ? 0 : 1, $1.slot)
            }
            var stopped = 0
            for container in ordered {
                let costsAvailability = container.isRunning && container.readySince != nil
                if costsAvailability && !pastDrainDeadline(container) {
                    guard stoppable > 0 else { continue }
                    stoppable -= 1
                }
                actions.append(
                    stop(container, isMoving(container) && container.specHash == target ? .drained : .replaced))
                stopped += 1
            }
            let total = old.count - stopped + bySlot.count
            let room = max(0, replicas + app.effectiveUpdate.maxSurge - total)
            starts = Array(missingSlots.prefix(room))
        }
        return AppDecision(
            actions: actions, slotsToStart: starts, old: old, current: bySlot.count, scaledDown: scaledDown,
            crashed: crashed, restarts: restarts, backingOff: backingOff)
    }

    /// The summary of this App's part of the plan, or nil when nothing changes.
    func change(_ decision: AppDecision, placedOn: [String], unplaceable: [Unplaceable]) -> AppChange? {
        if let early = decision.early { return early }
        guard !decision.actions.isEmpty || !placedOn.isEmpty || !unplaceable.isEmpty || !decision.old.isEmpty else {
            guard !decision.backingOff.isEmpty else { return nil }
            return AppChange(
                app: app.name, kind: .waiting,
                summary: "app \(app.name): " + decision.backingOff.joined(separator: "; "), unplaceable: [])
        }
        return change(
            old: decision.old, current: decision.current, placedOn: placedOn, scaledDown: decision.scaledDown,
            crashed: decision.crashed, unplaceable: unplaceable)
    }

    private func change(
        old: [ObservedContainer], current: Int, placedOn: [String], scaledDown: Int, crashed: Int,
        unplaceable: [Unplaceable]
    ) -> AppChange {
        // "-> node-a, node-b" or, with several replicas on one node, "-> node-a (3), node-b".
        var counts: [(String, Int)] = []
        for node in placedOn {
            if let index = counts.firstIndex(where: { $0.0 == node }) {
                counts[index].1 += 1
            } else {
                counts.append((node, 1))
            }
        }
        let targets =
            placedOn.isEmpty
            ? "" : " -> " + counts.map { $0.1 == 1 ? $0.0 : "\($0.0) (\($0.1))" }.joined(separator: ", ")
        let name = "app \(app.name)"
        if containers.isEmpty {
            let count = app.replicas
            let pinned = app.requirement.volume.map { " (on node \($0.node): volume \($0.volume) lives there)" } ?? ""
            return AppChange(
                app: app.name, kind: .added,
                summary: "\(name): \(count) replica\(count == 1 ? "" : "s")\(targets)\(pinned)",
                unplaceable: unplaceable)
        }
        if !old.isEmpty, old.allSatisfy({ $0.specHash == hash && isMoving($0) }) {
            let nodes = Set(old.map(\.node)).sorted().joined(separator: ", ")
            let count = old.count
            return AppChange(
                app: app.name, kind: .moved,
                summary: "\(name): moving \(count) replica\(count == 1 ? "" : "s") off draining \(nodes)\(targets)",
                unplaceable: unplaceable)
        }
        if !old.isEmpty {
            let what = previous.map { updates(from: $0) } ?? "revision \(old[0].specHash.prefix(8)) -> \(describe(app))"
            let exclusive = app.volumes.first { $0.volumeName != nil && !$0.shared }?.volumeName
            let strategy =
                exclusive.map { "stop before start: volume \($0) is not shared" }
                ?? "rolling: \(app.replicas) replicas, maxSurge \(app.update.maxSurge), maxUnavailable \(app.update.maxUnavailable)"
            return AppChange(
                app: app.name, kind: .updated, summary: "\(name): \(what) (\(strategy))", unplaceable: unplaceable)
        }
        if scaledDown > 0 || (placedOn.count > 0 && current + placedOn.count > containers.count && crashed == 0) {
            let before = containers.count
            return AppChange(
                app: app.name, kind: .scaled, summary: "\(name): replicas \(before) -> \(app.replicas)\(targets)",
                unplaceable: unplaceable)
        }
        let repaired = placedOn.count
        let summary =
            repaired > 0
            ? "\(name): \(repaired) replica\(repaired == 1 ? "" : "s") restarted or repaired\(targets)"
            : "\(name): waiting for room"
        return AppChange(
            app: app.name, kind: repaired > 0 ? .repaired : .waiting, summary: summary, unplaceable: unplaceable)
    }

    /// What an update changes: the image or command, then each file added, changed or removed and
    /// the volumes; the image or command alone when the change is elsewhere (env, resources, ports).
    private func updates(from previous: AppSpec) -> String {
        var parts: [String] = []
        if previous.image != app.image || previous.command != app.command {
            parts.append("\(describe(previous)) -> \(describe(app))")
        }
        for file in FileSpec.changes(from: previous.files, to: app.files) {
            parts.append("file \(file.path) \(file.change)")
        }
        if previous.volumes != app.volumes { parts.append("volumes changed") }
        return parts.isEmpty ? "\(describe(previous)) -> \(describe(app))" : parts.joined(separator: ", ")
    }

    private func describe(_ spec: AppSpec) -> String {
        if let image = spec.image { return "image \(image)" }
        return "command \((spec.command ?? []).joined(separator: " "))"
    }
}
