import ReconcileModel

/// A DAG's tasks laid out left to right for an SVG drawing (pure): each task in the column of its
/// longest path from a root, ordered within the column by the mean row of its upstream tasks (fewer
/// crossings), edges as cubic curves from an upstream task's right side to a downstream's left.
public struct DAGGraph: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var name: String
        public var state: String
        public var x: Int
        public var y: Int
        public var width: Int
        public var height: Int
        /// The text baseline, centred in the box.
        public var textX: Int
        public var textY: Int
    }

    public struct Edge: Sendable, Hashable {
        public var from: String
        public var to: String
        /// SVG path data.
        public var path: String
    }

    public var nodes: [Node]
    public var edges: [Edge]
    public var width: Int
    public var height: Int

    static let nodeHeight = 34
    static let columnGap = 70
    static let rowGap = 18
    static let margin = 12

    public init(tasks: [TaskSpec], states: [String: String]) {
        let names = Set(tasks.map(\.name))
        let upstream = Dictionary(
            tasks.map { ($0.name, $0.after.filter(names.contains)) }, uniquingKeysWith: { first, _ in first })
        // Column: longest path from a root (memoized depth-first; manifests reject cycles, and a
        // cycle here would only stop the recursion at the guard).
        var column: [String: Int] = [:]
        func depth(_ task: String, _ visiting: Set<String>) -> Int {
            if let known = column[task] { return known }
            guard !visiting.contains(task) else { return 0 }
            let value = (upstream[task] ?? []).map { depth($0, visiting.union([task])) + 1 }.max() ?? 0
            column[task] = value
            return value
        }
        for task in tasks { _ = depth(task.name, []) }
        let columns = (column.values.max() ?? -1) + 1
        var order: [[String]] = Array(repeating: [], count: columns)
        var row: [String: Double] = [:]
        for index in 0..<columns {
            // Declaration order first, then by the mean row of upstream tasks (already placed).
            let members = tasks.map(\.name).filter { column[$0] == index }
            let keyed = members.enumerated().map { offset, name -> (Double, Int, String) in
                let parents = (upstream[name] ?? []).compactMap { row[$0] }
                let mean = parents.isEmpty ? Double(offset) : parents.reduce(0, +) / Double(parents.count)
                return (mean, offset, name)
            }
            order[index] = keyed.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
            for (position, name) in order[index].enumerated() { row[name] = Double(position) }
        }
        let longest = tasks.map(\.name.count).max() ?? 4
        let width = max(90, min(260, longest * 8 + 28))
        var nodes: [Node] = []
        var position: [String: Node] = [:]
        for (index, members) in order.enumerated() {
            for (rowIndex, name) in members.enumerated() {
                let x = Self.margin + index * (width + Self.columnGap)
                let y = Self.margin + rowIndex * (Self.nodeHeight + Self.rowGap)
                let node = Node(
                    name: name, state: states[name] ?? "none", x: x, y: y, width: width, height: Self.nodeHeight,
                    textX: x + width / 2, textY: y + Self.nodeHeight / 2 + 5)
                nodes.append(node)
                position[name] = node
            }
        }
        var edges: [Edge] = []
        for task in tasks {
            guard let to = position[task.name] else { continue }
            for parent in upstream[task.name] ?? [] {
                guard let from = position[parent] else { continue }
                let startX = from.x + from.width
                let startY = from.y + from.height / 2
                let endX = to.x
                let endY = to.y + to.height / 2
                let bend = max(20, (endX - startX) / 2)
                edges.append(
                    Edge(
                        from: parent, to: task.name,
                        path: "M\(startX),\(startY) C\(startX + bend),\(startY) \(endX - bend),\(endY) \(endX),\(endY)")
                )
            }
        }
        self.nodes = nodes
        self.edges = edges
        let rows = order.map(\.count).max() ?? 0
        self.width = Self.margin * 2 + max(0, columns * width + (columns - 1) * Self.columnGap)
        self.height = Self.margin * 2 + max(0, rows * Self.nodeHeight + (rows - 1) * Self.rowGap)
    }
}
