import ReconcileDrivers
import ReconcileModel

/// Free room per reachable node for DAG tasks, after what runs there (App replicas at their App's
/// request, tasks at theirs). Every start is booked, so tasks never overcommit a node; a task that
/// fits nowhere waits `queued`.
struct TaskRoom {
    private var free: [String: (cpu: Int64, memory: Int64)] = [:]
    private let nodes: [(spec: NodeSpec, capacity: Resources)]

    init(
        nodes: [(spec: NodeSpec, capacity: Resources)], listed: [String: [ContainerInfo]], apps: [String: Resources],
        tasks: TaskResources
    ) {
        self.nodes = nodes
        for (spec, capacity) in nodes {
            var room = (cpu: capacity.cpu.millicores, memory: capacity.memory.bytes)
            for container in listed[spec.name] ?? [] where container.status != .exited {
                let used =
                    tasks.of(container)
                    ?? container.labels[OwnershipLabels.app].map { apps[$0] ?? .defaultRequest } ?? .zero
                room.cpu -= used.cpu.millicores
                room.memory -= used.memory.bytes
            }
            free[spec.name] = room
        }
    }

    static func canRun(_ task: TaskSpec, on node: NodeSpec) -> Bool {
        node.isProcessNode ? task.command != nil : task.image != nil
    }

    /// The node for the task, booked: among the nodes that run its kind and have room, the tightest
    /// fit (bin-packing keeps large holes for large tasks). Otherwise why it waits.
    mutating func place(_ task: TaskSpec) -> Result<String, Waiting> {
        let request = (cpu: task.resources.cpu.millicores, memory: task.resources.memory.bytes)
        let candidates = nodes.filter { Self.canRun(task, on: $0.spec) }
        guard !candidates.isEmpty else {
            return .failure(
                Waiting(
                    reason: task.command == nil
                        ? "no reachable Docker node (it names an image)"
                        : task.image == nil
                            ? "no reachable process node (it names a command, no image)" : "no reachable node"))
        }
        var best: (name: String, score: Double)?
        for (spec, capacity) in candidates {
            guard let room = free[spec.name], room.cpu >= request.cpu, room.memory >= request.memory else { continue }
            let score =
                Double(room.cpu - request.cpu) / Double(max(1, capacity.cpu.millicores))
                + Double(room.memory - request.memory) / Double(max(1, capacity.memory.bytes))
            if best == nil || score < best!.score { best = (spec.name, score) }
        }
        guard let best else {
            let roomiest = candidates.compactMap { node in free[node.spec.name].map { (node.spec.name, $0) } }.max {
                ($0.1.cpu, $0.1.memory) < ($1.1.cpu, $1.1.memory)
            }
            let most = roomiest.map {
                "; most free: \($0.0) with \(CPUQuantity(millicores: max(0, $0.1.cpu))) cpu, "
                    + "\(MemoryQuantity(bytes: max(0, $0.1.memory))) memory"
            }
            return .failure(
                Waiting(
                    reason: "no node has room for \(task.resources.cpu) cpu, \(task.resources.memory) memory"
                        + (most ?? "")))
        }
        free[best.name]!.cpu -= request.cpu
        free[best.name]!.memory -= request.memory
        return .success(best.name)
    }

    struct Waiting: Error {
        var reason: String
    }
}
