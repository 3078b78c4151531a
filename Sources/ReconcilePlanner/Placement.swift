import ReconcileModel

/// Free capacity per node while a plan is made; every placement is booked so nothing is overcommitted.
struct CapacityLedger {
    private(set) var free: [String: (cpu: Int64, memory: Int64)] = [:]
    let nodes: [ObservedNode]
    /// The fewest nodes the whole workload could fit on (total requests over the largest node);
    /// spreading opens a new node only while fewer than this many are in use.
    var nodeTarget = Int.max

    init(nodes: [ObservedNode], running: [ObservedContainer]) {
        self.nodes = nodes
        for node in nodes {
            free[node.name] = (
                node.capacity.cpu.millicores - node.tasks.cpu.millicores,
                node.capacity.memory.bytes - node.tasks.memory.bytes
            )
        }
        for container in running where container.isRunning {
            book(container.resources, on: container.node)
        }
    }

    /// Everything booked so far (running replicas and placements of this pass), over all nodes.
    var booked: (cpu: Int64, memory: Int64) {
        nodes.reduce((Int64(0), Int64(0))) { total, node in
            let room = free[node.name]!
            return (
                total.0 + node.capacity.cpu.millicores - room.cpu, total.1 + node.capacity.memory.bytes - room.memory
            )
        }
    }

    mutating func book(_ resources: Resources, on node: String) {
        guard let current = free[node] else { return }
        free[node] = (current.cpu - resources.cpu.millicores, current.memory - resources.memory.bytes)
    }

    /// The node for one more replica: among nodes that can run it and have room, prefer nodes without
    /// a replica of the app (when spreading), then the tightest fit (bin-packing: fewest nodes used).
    /// Nil with the reason when nothing fits.
    mutating func place(
        _ app: AppSpec, avoiding: [String: Int], placeable: Set<String>
    ) -> Result<String, Unplaceable> {
        let request = app.resources
        let eligible = nodes.filter { node in
            placeable.contains(node.name) && (node.isProcessNode ? app.command != nil : app.image != nil)
                && app.placement.require.allSatisfy { node.labels[$0.key] == $0.value }
        }
        if eligible.isEmpty {
            return .failure(Unplaceable(app: app.name, reason: "no reachable node can run it (kind or labels)"))
        }
        let fitting = eligible.filter { node in
            let room = free[node.name]!
            return room.cpu >= request.cpu.millicores && room.memory >= request.memory.bytes
        }
        guard !fitting.isEmpty else {
            let byMemory = eligible.max { free[$0.name]!.memory < free[$1.name]!.memory }!
            let byCPU = eligible.max { free[$0.name]!.cpu < free[$1.name]!.cpu }!
            let memoryRoom = free[byMemory.name]!.memory
            let reason =
                memoryRoom < request.memory.bytes
                ? "needs memory \(request.memory), largest free is \(MemoryQuantity(bytes: max(0, memoryRoom))) (\(byMemory.name))"
                : "needs cpu \(request.cpu), largest free is \(CPUQuantity(millicores: max(0, free[byCPU.name]!.cpu))) (\(byCPU.name))"
            return .failure(Unplaceable(app: app.name, reason: reason))
        }
        // Spread first (a node without this app); never open a node past the target (the fewest nodes
        // the workload fits on) while a node in use has room; within the target, the node with the most
        // room left in its scarcer resource, so nodes fill evenly in cpu and memory and the last (large
        // first) replicas still fit: fewest nodes, like ECS binpack, without stranding one resource.
        let inUse = nodes.filter { node in
            let room = free[node.name]!
            return room.cpu != node.capacity.cpu.millicores || room.memory != node.capacity.memory.bytes
        }.count
        func score(_ node: ObservedNode) -> (Int, Int, Double, String) {
            let room = free[node.name]!
            let spreadCost = app.placement.spread ? avoiding[node.name, default: 0] : 0
            let empty = room.cpu == node.capacity.cpu.millicores && room.memory == node.capacity.memory.bytes
            let beyondTarget = empty && inUse >= nodeTarget ? 1 : 0
            let cpuLeft = Double(room.cpu - request.cpu.millicores) / Double(max(1, node.capacity.cpu.millicores))
            let memoryLeft = Double(room.memory - request.memory.bytes) / Double(max(1, node.capacity.memory.bytes))
            return (beyondTarget, spreadCost, -min(cpuLeft, memoryLeft), node.name)
        }
        let chosen = fitting.min { score($0) < score($1) }!
        book(request, on: chosen.name)
        return .success(chosen.name)
    }
}
