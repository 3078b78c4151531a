import ReconcileModel

/// Free capacity per node while a plan is made; every placement is booked so nothing is overcommitted.
struct CapacityLedger {
    private(set) var free: [String: (cpu: Int64, memory: Int64)] = [:]
    let nodes: [ObservedNode]

    init(nodes: [ObservedNode], running: [ObservedContainer]) {
        self.nodes = nodes
        for node in nodes { free[node.name] = (node.capacity.cpu.millicores, node.capacity.memory.bytes) }
        for container in running where container.isRunning {
            book(container.resources, on: container.node)
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
        let chosen = fitting.min { a, b in
            let spreadA = app.placement.spread ? avoiding[a.name, default: 0] : 0
            let spreadB = app.placement.spread ? avoiding[b.name, default: 0] : 0
            if spreadA != spreadB { return spreadA < spreadB }
            let leftA = free[a.name]!.memory - request.memory.bytes
            let leftB = free[b.name]!.memory - request.memory.bytes
            if leftA != leftB { return leftA < leftB }
            return a.name < b.name
        }!
        book(request, on: chosen.name)
        return .success(chosen.name)
    }
}
