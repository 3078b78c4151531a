import ReconcileModel
import ReconcileWeb
import Testing

@Suite struct DAGGraphTests {
    static func task(_ name: String, after: [String] = []) -> TaskSpec {
        TaskSpec(name: name, command: ["/bin/true"], after: after)
    }

    /// Each task sits in the column of its longest path from a root; every edge goes left to right.
    @Test func columnsFollowTheLongestPath() {
        let tasks = [
            Self.task("a"), Self.task("b", after: ["a"]), Self.task("c", after: ["a"]),
            Self.task("d", after: ["b", "c"]), Self.task("e", after: ["a", "d"]),
        ]
        let graph = DAGGraph(tasks: tasks, states: ["a": "succeeded", "b": "failed"])
        let x = Dictionary(uniqueKeysWithValues: graph.nodes.map { ($0.name, $0.x) })
        #expect(x["a"]! < x["b"]!)
        #expect(x["b"] == x["c"])
        #expect(x["c"]! < x["d"]!)
        #expect(x["d"]! < x["e"]!)  // after d, not beside b although a is its other upstream
        #expect(graph.edges.count == 6)
        for edge in graph.edges { #expect(x[edge.from]! < x[edge.to]!) }
        let state = Dictionary(uniqueKeysWithValues: graph.nodes.map { ($0.name, $0.state) })
        #expect(state == ["a": "succeeded", "b": "failed", "c": "none", "d": "none", "e": "none"])
        // Inside the drawing, no two boxes overlap.
        for node in graph.nodes {
            #expect(node.x + node.width <= graph.width && node.y + node.height <= graph.height)
            for other in graph.nodes where other.name != node.name {
                let apart =
                    node.x + node.width <= other.x || other.x + other.width <= node.x
                    || node.y + node.height <= other.y || other.y + other.height <= node.y
                #expect(apart, "\(node.name) overlaps \(other.name)")
            }
        }
    }

    /// Within a column, tasks are ordered by their upstream tasks' rows: two chains stay straight.
    @Test func chainsStayOnTheirRows() {
        let tasks = [
            Self.task("x1"), Self.task("y1"), Self.task("y2", after: ["y1"]), Self.task("x2", after: ["x1"]),
        ]
        let graph = DAGGraph(tasks: tasks, states: [:])
        let y = Dictionary(uniqueKeysWithValues: graph.nodes.map { ($0.name, $0.y) })
        #expect(y["x1"] == y["x2"])
        #expect(y["y1"] == y["y2"])
        #expect(y["x1"]! < y["y1"]!)
    }

    @Test func anEmptyDAGDrawsNothing() {
        let graph = DAGGraph(tasks: [], states: [:])
        #expect(graph.nodes.isEmpty && graph.edges.isEmpty)
        #expect(graph.width == 24 && graph.height == 24)
    }
}
