import Foundation
import ReconcileModel

/// What changes between two commits for the kinds the app planner does not place: DAGs, checks,
/// notifiers and nodes. Pure, for `--dry-run --against`.
public enum DesiredDiff {
    public struct Line: Sendable, Hashable {
        public enum Marker: String, Sendable, Hashable {
            case added = "+"
            case removed = "-"
            case changed = "~"
        }

        public var marker: Marker
        public var text: String
    }

    /// Lines for added, removed and changed DAGs, checks, notifiers and nodes, and how many are unchanged.
    public static func compare(
        from old: DesiredState, to new: DesiredState, now: Date
    ) -> (lines: [Line], unchanged: Int) {
        var lines: [Line] = []
        var unchanged = 0
        func diff<T: Hashable>(
            _ kind: String, _ old: [T], _ new: [T], name: (T) -> String, describe: (T?, T) -> [String]
        ) {
            let before = Dictionary(old.map { (name($0), $0) }, uniquingKeysWith: { a, _ in a })
            let after = Dictionary(new.map { (name($0), $0) }, uniquingKeysWith: { a, _ in a })
            for key in after.keys.sorted() {
                let item = after[key]!
                if let previous = before[key] {
                    if previous == item {
                        unchanged += 1
                    } else {
                        for detail in describe(previous, item) {
                            lines.append(Line(marker: .changed, text: "\(kind) \(key): \(detail)"))
                        }
                    }
                } else {
                    lines.append(
                        Line(marker: .added, text: "\(kind) \(key): " + describe(nil, item).joined(separator: "; ")))
                }
            }
            for key in before.keys.sorted() where after[key] == nil {
                lines.append(Line(marker: .removed, text: "\(kind) \(key): removed"))
            }
        }
        diff("dag", old.dags, new.dags, name: \.name) { previous, dag in
            guard let previous else { return ["new; " + nextRun(dag, now: now)] }
            var details: [String] = []
            let oldTasks = Dictionary(previous.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let newTasks = Dictionary(dag.tasks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for task in dag.tasks where oldTasks[task.name] == nil { details.append("task \(task.name) added") }
            for task in previous.tasks where newTasks[task.name] == nil { details.append("task \(task.name) removed") }
            for task in dag.tasks where oldTasks[task.name] != nil && oldTasks[task.name] != task {
                details.append("task \(task.name) changed")
            }
            func scheduleText(_ dag: DAGSpec) -> String {
                dag.schedule?.expression
                    ?? (dag.after.isEmpty ? "manual" : "after " + dag.after.joined(separator: ", "))
            }
            if previous.schedule != dag.schedule || previous.timezone != dag.timezone || previous.after != dag.after {
                details.append("schedule \(scheduleText(previous)) -> \(scheduleText(dag)); " + nextRun(dag, now: now))
            }
            if previous.paused != dag.paused { details.append(dag.paused ? "paused" : "unpaused") }
            if previous.params != dag.params {
                let before = Set(previous.params.map(\.name))
                let after = Set(dag.params.map(\.name))
                for name in after.subtracting(before).sorted() { details.append("param \(name) added") }
                for name in before.subtracting(after).sorted() { details.append("param \(name) removed") }
                for param in dag.params where before.contains(param.name) && !previous.params.contains(param) {
                    details.append("param \(param.name) changed")
                }
            }
            return details.isEmpty ? ["settings changed"] : details
        }
        diff("check", old.checks, new.checks, name: \.name) { previous, _ in [previous == nil ? "new" : "changed"] }
        diff("notifier", old.notifiers, new.notifiers, name: \.name) { previous, _ in
            [previous == nil ? "new" : "changed"]
        }
        diff("node", old.nodes, new.nodes, name: \.name) { previous, node in
            guard let previous else { return ["new" + (node.schedulable ? "" : " (not schedulable: takes no work)")] }
            var details: [String] = []
            if previous.schedulable != node.schedulable {
                details.append(
                    node.schedulable
                        ? "schedulable again: takes new work"
                        : "schedulable: false: drained (no new work; its replicas move to other nodes)")
            }
            if previous.address != node.address || previous.bindAll != node.bindAll {
                details.append(
                    "published ports move to \(node.bindAll ? "0.0.0.0" : node.address ?? "the default address")")
            }
            var rest = previous
            rest.schedulable = node.schedulable
            rest.address = node.address
            rest.bindAll = node.bindAll
            if rest != node || details.isEmpty { details.append("changed") }
            return details
        }
        // The credentials themselves are never shown (only that a Registry changed).
        diff("registry", old.registries, new.registries, name: \.name) { previous, registry in
            [previous == nil ? "new (\(registry.server))" : "changed (\(registry.server))"]
        }
        diff("pool", old.pools, new.pools, name: \.name) { previous, pool in
            guard let previous else { return ["new (\(pool.slots) slot\(pool.slots == 1 ? "" : "s"))"] }
            return ["slots \(previous.slots) -> \(pool.slots)"]
        }
        diff("volume", old.volumes, new.volumes, name: \.name) { previous, volume in
            let place = volume.node.map { "on node \($0)" } ?? "on the only node"
            guard let previous else { return ["new (\(place))"] }
            var details: [String] = []
            if previous.node != volume.node {
                details.append("moves to \(volume.node ?? "any node"): its data stays where it is")
            }
            if previous.shared != volume.shared { details.append(volume.shared ? "now shared" : "no longer shared") }
            if previous.reclaim != volume.reclaim { details.append("reclaim \(volume.reclaim.rawValue)") }
            return details.isEmpty ? ["changed"] : details
        }
        for index in lines.indices where lines[index].marker == .removed && lines[index].text.hasPrefix("volume ") {
            let name = String(lines[index].text.dropFirst("volume ".count).prefix { $0 != ":" })
            let deletes = old.volumes.first { $0.name == name }?.reclaim == .delete
            lines[index].text =
                "volume \(name): removed; "
                + (deletes
                    ? "its data is deleted once no container uses it"
                    : "its data is kept on the node (reclaim: retain)")
        }
        // A node removed from git is drained, not dropped.
        for index in lines.indices where lines[index].marker == .removed && lines[index].text.hasPrefix("node ") {
            lines[index].text = lines[index].text.replacingOccurrences(
                of: ": removed", with: ": removed; drained first, forgotten once nothing of ours runs there")
        }
        return (lines, unchanged)
    }

    static func nextRun(_ dag: DAGSpec, now: Date) -> String {
        if !dag.after.isEmpty { return "runs once \(dag.after.joined(separator: " and ")) succeeded for an interval" }
        guard let schedule = dag.schedule, let zone = TimeZone(identifier: dag.timezone) else { return "manual only" }
        let from = max(now, dag.start.map { Date(timeIntervalSince1970: $0 - 1) } ?? now)
        guard let next = schedule.nextFireTime(after: from, in: zone) else { return "no run scheduled" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return "next run \(formatter.string(from: next))" + (dag.paused ? " (paused)" : "")
    }
}
