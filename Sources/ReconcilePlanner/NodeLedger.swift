import ReconcileModel

/// The one ledger of what occupies the nodes and where new work goes, for App replicas and DAG tasks
/// alike. A container occupies its node at its workload's request from its creation until it exits
/// (running work is counted that one way everywhere). Apps are booked first: the app planner places
/// replicas on the ledger, and nodes that an unplaceable replica could use are held for it, so tasks
/// never take the room a waiting replica needs. Every placement is booked, so nothing overcommits.
public struct NodeLedger: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var name: String
        public var capacity: Resources
        public var labels: [String: String]
        public var isProcessNode: Bool
        /// False while the node does not answer: nothing new is placed there.
        public var reachable: Bool
        /// False while the node is drained: it is treated as full.
        public var schedulable: Bool
        /// Its Docker networks, when read (a workload naming another network cannot run there).
        public var networks: Set<String>?

        public init(
            name: String, capacity: Resources, labels: [String: String] = [:], isProcessNode: Bool,
            reachable: Bool = true, schedulable: Bool = true, networks: Set<String>? = nil
        ) {
            self.schedulable = schedulable
            self.networks = networks
            self.name = name
            self.capacity = capacity
            self.labels = labels
            self.isProcessNode = isProcessNode
            self.reachable = reachable
        }
    }

    public struct Room: Sendable, Hashable {
        public var cpu: Int64
        public var memory: Int64

        public init(cpu: Int64, memory: Int64) {
            self.cpu = cpu
            self.memory = memory
        }
    }

    /// One workload to place.
    public struct Demand: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            /// An App replica; `spread` counts its App's replicas per node so far when it spreads.
            case replica(spread: [String: Int]?)
            /// A DAG task: never placed on a node held for waiting App replicas.
            case task
        }

        public var resources: Resources
        public var requirement: NodeRequirement
        public var kind: Kind

        public init(resources: Resources, requirement: NodeRequirement, kind: Kind) {
            self.resources = resources
            self.requirement = requirement
            self.kind = kind
        }

        public static func replica(of app: AppSpec, spread: [String: Int]) -> Demand {
            Demand(
                resources: app.resources, requirement: app.requirement,
                kind: .replica(spread: app.placement.spread ? spread : nil))
        }

        public static func task(_ task: TaskSpec) -> Demand {
            Demand(resources: task.resources, requirement: task.requirement, kind: .task)
        }
    }

    public typealias Rejection = PlacementRejection
    public typealias Score = PlacementScore
    public typealias Placement = PlacementDecision

    /// Why a workload fits nowhere: one line, and each node's reason.
    public struct Unfit: Error, Sendable, Hashable, Codable, CustomStringConvertible {
        public var reason: String
        public var rejected: [Rejection]

        public var description: String { reason }
    }

    public private(set) var nodes: [Node]
    public private(set) var free: [String: Room] = [:]
    /// Nodes held for App replicas that could not be placed (node -> apps): tasks wait elsewhere.
    public private(set) var holds: [String: Set<String>] = [:]
    /// The fewest nodes the whole workload fits on (see `Score.opensNode`); set by whoever knows the
    /// work of the pass. Without one, the ledger counts what it has booked plus the demand at hand.
    public var nodeTarget: Int?

    public init(nodes: [Node]) {
        self.nodes = nodes.sorted { $0.name < $1.name }
        for node in nodes {
            free[node.name] = Room(cpu: node.capacity.cpu.millicores, memory: node.capacity.memory.bytes)
        }
    }

    /// The ledger of observed nodes, with their running tasks and the given replicas booked.
    public init(observed nodes: [ObservedNode], replicas: [ObservedContainer]) {
        self.init(
            nodes: nodes.map {
                Node(
                    name: $0.name, capacity: $0.capacity, labels: $0.labels, isProcessNode: $0.isProcessNode,
                    reachable: $0.unreachableSince == nil, schedulable: $0.schedulable, networks: $0.networks)
            })
        for node in nodes { book(node.tasks, on: node.name) }
        for replica in replicas where replica.isRunning { book(replica.resources, on: replica.node) }
    }

    /// Takes the resources from the node's free room.
    public mutating func book(_ resources: Resources, on node: String) {
        guard var room = free[node] else { return }
        room.cpu -= resources.cpu.millicores
        room.memory -= resources.memory.bytes
        free[node] = room
    }

    /// Everything booked so far, over all nodes.
    public var booked: Room {
        nodes.reduce(Room(cpu: 0, memory: 0)) { total, node in
            let room = free[node.name]!
            return Room(
                cpu: total.cpu + node.capacity.cpu.millicores - room.cpu,
                memory: total.memory + node.capacity.memory.bytes - room.memory)
        }
    }

    /// The largest node's capacity (at least 1 of each, for divisions).
    public var largest: Room {
        nodes.reduce(Room(cpu: 1, memory: 1)) {
            Room(cpu: max($0.cpu, $1.capacity.cpu.millicores), memory: max($0.memory, $1.capacity.memory.bytes))
        }
    }

    /// The fewest nodes `total` fits on: the total over the largest node, rounded up.
    public func nodesFor(_ total: Room) -> Int {
        let largest = self.largest
        return max(
            Int((total.cpu + largest.cpu - 1) / largest.cpu), Int((total.memory + largest.memory - 1) / largest.memory))
    }

    private func isEmpty(_ node: Node) -> Bool {
        let room = free[node.name]!
        return room.cpu == node.capacity.cpu.millicores && room.memory == node.capacity.memory.bytes
    }

    /// Why the node cannot take the demand now, or nil when it can.
    public func rejection(of demand: Demand, on node: Node) -> PlacementRejection.Cause? {
        guard node.reachable else { return .notAnswering }
        if let reason = canRun(demand, on: node) { return .cannotRun(reason) }
        guard node.schedulable else { return .draining }
        if case .task = demand.kind, let apps = holds[node.name] { return .held(apps: apps.sorted()) }
        let room = free[node.name]!
        if room.memory < demand.resources.memory.bytes {
            return .memory(needs: demand.resources.memory.bytes, free: room.memory)
        }
        if room.cpu < demand.resources.cpu.millicores {
            return .cpu(needs: demand.resources.cpu.millicores, free: room.cpu)
        }
        return nil
    }

    /// Why the node can never run the demand (kind, labels, a Docker network it lacks), or nil.
    func canRun(_ demand: Demand, on node: Node) -> String? {
        if let reason = demand.requirement.volumeRejection(node: node.name)
            ?? demand.requirement.rejection(isProcessNode: node.isProcessNode, labels: node.labels)
        {
            return reason
        }
        if let network = demand.requirement.network, !node.isProcessNode, let networks = node.networks,
            !networks.contains(network)
        {
            return "has no Docker network \"\(network)\" (create it there: docker network create \(network))"
        }
        return nil
    }

    /// The node for the demand, booked: the best-scoring node that can run it and has room. Otherwise
    /// why it fits nowhere.
    public mutating func place(_ demand: Demand) -> Result<Placement, Unfit> {
        // One pass over the nodes (in name order), by index: a plan places thousands of replicas.
        var causes: [PlacementRejection.Cause?] = []
        causes.reserveCapacity(nodes.count)
        var scores: [Score?] = []
        scores.reserveCapacity(nodes.count)
        var inUse = 0
        for node in nodes where !isEmpty(node) { inUse += 1 }
        let target =
            nodeTarget
            ?? nodesFor(
                Room(
                    cpu: booked.cpu + demand.resources.cpu.millicores,
                    memory: booked.memory + demand.resources.memory.bytes))
        var best: Int?
        for (index, node) in nodes.enumerated() {
            if let cause = rejection(of: demand, on: node) {
                causes.append(cause)
                scores.append(nil)
                continue
            }
            let room = free[node.name]!
            var sameApp = 0
            if case .replica(let spread?) = demand.kind { sameApp = spread[node.name, default: 0] }
            let score = Score(
                opensNode: isEmpty(node) && inUse >= target, sameApp: sameApp,
                cpuLeft: Double(room.cpu - demand.resources.cpu.millicores)
                    / Double(max(1, node.capacity.cpu.millicores)),
                memoryLeft: Double(room.memory - demand.resources.memory.bytes)
                    / Double(max(1, node.capacity.memory.bytes)))
            causes.append(nil)
            scores.append(score)
            // Nodes are in name order: the first of equal scores wins.
            if best == nil || score < scores[best!]! { best = index }
        }
        var rejected: [Rejection] = []
        rejected.reserveCapacity(nodes.count)
        for (index, node) in nodes.enumerated() where index != best {
            if let cause = causes[index] {
                rejected.append(Rejection(node: node.name, cause: cause))
            } else if let score = scores[index] {
                rejected.append(Rejection(node: node.name, cause: .ranksLower(score)))
            }
        }
        guard let best else {
            return .failure(Unfit(reason: summary(of: demand, rejected: rejected), rejected: rejected))
        }
        let chosen = nodes[best]
        book(demand.resources, on: chosen.name)
        return .success(Placement(node: chosen.name, score: scores[best]!, rejected: rejected))
    }

    /// Holds every node that could run the demand (an App replica that fits nowhere now): tasks are
    /// not placed there until the next app plan, so room freed by finishing tasks goes to the App.
    public mutating func hold(_ demand: Demand, for app: String) {
        for node in nodes where node.reachable && node.schedulable {
            guard canRun(demand, on: node) == nil else { continue }
            holds[node.name, default: []].insert(app)
        }
    }

    /// Holds taken over from another ledger (the last app plan's), on the nodes this one has.
    public mutating func takeHolds(from other: NodeLedger) {
        for (node, apps) in other.holds where free[node] != nil { holds[node, default: []].formUnion(apps) }
    }

    /// The one line for a demand that fits nowhere: what no node can do, or the room it lacks.
    private func summary(of demand: Demand, rejected: [Rejection]) -> String {
        let runnable = nodes.filter { $0.reachable && canRun(demand, on: $0) == nil }
        let able = runnable.filter(\.schedulable)
        if able.isEmpty, !runnable.isEmpty {
            let names = runnable.map(\.name).joined(separator: ", ")
            return "every node that can run it is draining (\(names)); uncordon one or add a node"
        }
        if able.isEmpty {
            let reasons = rejected.map(\.description).joined(separator: "; ")
            return nodes.isEmpty ? "no node is declared" : "no reachable node can run it (\(reasons))"
        }
        let open = able.filter { holds[$0.name] == nil }
        if open.isEmpty {
            let apps = Set(able.flatMap { holds[$0.name] ?? [] }).sorted().joined(separator: ", ")
            return "App replicas waiting for room are placed first (\(apps))"
        }
        let byMemory = open.max { free[$0.name]!.memory < free[$1.name]!.memory }!
        let memoryRoom = free[byMemory.name]!.memory
        if memoryRoom < demand.resources.memory.bytes {
            return
                "needs memory \(demand.resources.memory), largest free is \(MemoryQuantity(bytes: max(0, memoryRoom))) (\(byMemory.name))"
        }
        let byCPU = open.max { free[$0.name]!.cpu < free[$1.name]!.cpu }!
        let cpuRoom = free[byCPU.name]!.cpu
        if cpuRoom < demand.resources.cpu.millicores {
            return
                "needs cpu \(demand.resources.cpu), largest free is \(CPUQuantity(millicores: max(0, cpuRoom))) (\(byCPU.name))"
        }
        return
            "needs cpu \(demand.resources.cpu) and memory \(demand.resources.memory) on one node; none has both free"
    }
}
