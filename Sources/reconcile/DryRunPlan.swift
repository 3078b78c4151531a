import Foundation
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime

/// `--dry-run --against REF`: the change from REF's desired state to this commit's, with no cluster
/// access. REF's apps are assumed converged on the declared nodes (placed by the same planner), and
/// the plan for this commit is made against that, so the output shows exactly what applying the
/// commit would do to a cluster that runs REF.
enum OfflinePlan {
    struct Output {
        var lines: [String]
        var changed: Bool
        /// The app plan the lines were made from, and how many resources are unchanged.
        var plan: Plan
        var unchanged: Int
    }

    /// Nodes as declared (undeclared capacity counts as unlimited offline); the implicit `local` node
    /// runs whatever the apps need.
    static func nodes(for state: DesiredState) -> [ObservedNode] {
        let unlimited = Resources(cpu: CPUQuantity(millicores: 1 << 40), memory: MemoryQuantity(bytes: 1 << 60))
        if state.nodes.isEmpty {
            let needsImages = state.apps.contains { $0.image != nil && $0.command == nil }
            return [ObservedNode(name: "local", capacity: unlimited, isProcessNode: !needsImages)]
        }
        return state.nodes.map { node in
            ObservedNode(
                name: node.name, capacity: node.capacity ?? unlimited, labels: node.labels,
                isProcessNode: node.isProcessNode)
        }
    }

    static func make(from old: DesiredState, to new: DesiredState, now: Date) -> Output {
        // REF, converged: its own plan on an empty cluster, applied.
        let baseline = Planner.plan(desired: old, observed: Observed(nodes: nodes(for: old)), now: now)
        var containers: [ObservedContainer] = []
        for case .start(let start) in baseline.actions {
            containers.append(
                ObservedContainer(
                    id: start.name, node: start.node, app: start.app, slot: start.slot, specHash: start.specHash,
                    resources: start.resources, readySince: now, startedAt: now))
        }
        let previous = Dictionary(old.apps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let plan = Planner.plan(
            desired: new, observed: Observed(nodes: nodes(for: new), containers: containers), previous: previous,
            now: now)
        var (lines, changed) = PlanText.lines(plan)
        let others = DesiredDiff.compare(from: old, to: new, now: now)
        lines += others.lines.map { "\($0.marker.rawValue) \($0.text)" }
        changed = changed || !others.lines.isEmpty
        // Replicas that fit nowhere ("!") are warnings: they do not make a commit a change by themselves.
        let unchanged = plan.unchanged.count + others.unchanged
        lines.append("= \(unchanged) resource\(unchanged == 1 ? "" : "s") unchanged")
        return Output(lines: lines, changed: changed, plan: plan, unchanged: unchanged)
    }
}
