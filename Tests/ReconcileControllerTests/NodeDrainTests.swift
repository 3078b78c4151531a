import Foundation
import ReconcileAPI
import ReconcileDrivers
import ReconcileModel
import ReconcilePlanner
import ReconcileRuntime
import ReconcileStore
import ReconcileTesting
import Testing

/// Drains as the controller keeps them: asked for through the queries (CLI, API, nodes page),
/// applied to git's nodes each pass, and nodes removed from git drained until they are empty.
@Suite struct NodeDrainTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func store() throws -> (Store, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("drain-\(UUID().uuidString)").path
        return (try Store(stateDirectory: folder), folder)
    }

    func docker(_ name: String) -> NodeSpec {
        NodeSpec(name: name, backend: .docker(endpoint: "tcp://10.0.0.\(name.count):2376", tls: nil))
    }

    @Test func drainsAreAskedForWithReasonsAndKeptUntilUncordoned() throws {
        let (store, folder) = try store()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let queries = Queries(store: store, stateDirectory: folder)
        let state = DesiredState(nodes: [docker("a"), docker("bb")])
        #expect(throws: Queries.Failure.self) { try queries.drain("nope", deadline: nil, in: state, now: t0) }
        do {
            _ = try queries.drain("nope", deadline: nil, in: state, now: t0)
        } catch let failure as Queries.Failure {
            #expect(failure.description == "no node nope; nodes: a, bb")
        }
        do {
            _ = try queries.drain("a", deadline: "ten minutes", in: state, now: t0)
            Issue.record("a bad deadline was taken")
        } catch let failure as Queries.Failure {
            #expect(failure.description.hasPrefix("deadline: "), "\(failure)")
        }
        let view = try queries.drain("a", deadline: "10m", in: state, now: t0)
        #expect(view.state == "draining" && view.deadline == t0.addingTimeInterval(600))
        // Applied to git's node by the controller's node resolution; the other stays schedulable.
        let resolved = try ClusterNodes.resolve(declared: state.nodes, store: store, now: t0)
        #expect(resolved.declared.map(\.acceptsWork) == [false, true])
        #expect(resolved.declared[0].drain == NodeSpec.Drain(cause: .requested, since: t0, deadline: t0 + 600))
        #expect(resolved.retired.isEmpty)
        _ = try queries.uncordon("a", in: state)
        let again = try ClusterNodes.resolve(declared: state.nodes, store: store, now: t0)
        let allOpen = again.declared.allSatisfy { $0.acceptsWork }
        #expect(allOpen)
    }

    @Test func aNodeRemovedFromGitIsDrainedUntilEmptyThenForgotten() throws {
        let (store, folder) = try store()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let a = docker("a")
        var b = docker("bb")
        b.address = "192.0.2.7"
        _ = try ClusterNodes.resolve(declared: [a, b], store: store, now: t0)
        // b leaves git: it is still managed, from its remembered spec, and draining.
        let resolved = try ClusterNodes.resolve(declared: [a], store: store, now: t0 + 60)
        #expect(resolved.retired.map(\.name) == ["bb"])
        #expect(resolved.retired.first?.address == "192.0.2.7")
        #expect(resolved.retired.first?.drain?.cause == .removedFromGit)
        #expect(resolved.retired.first?.drain?.since == t0 + 60)
        // Stable from pass to pass (the controller rebuilds its drivers only when this changes).
        let stable = try ClusterNodes.resolve(declared: [a], store: store, now: t0 + 120)
        #expect(stable == resolved)
        // Uncordon is refused: a removed node drains until it is empty.
        let queries = Queries(store: store, stateDirectory: folder)
        #expect(throws: Queries.Failure.self) { try queries.uncordon("bb", in: DesiredState(nodes: [a])) }

        // Something of ours still runs there: kept. Nothing: forgotten.
        let busy = ClusterSnapshot(
            nodes: [
                "bb": .init(
                    info: NodeInfo(capacity: .defaultRequest, engine: "test"),
                    containers: [ContainerInfo(id: "x", name: "web-0", labels: [:], status: .running)])
            ], takenAt: t0)
        let observed = Observed(nodes: [ObservedNode(name: "bb", capacity: .defaultRequest)])
        #expect(
            try ClusterNodes.forgetEmpty(
                resolved.retired, snapshot: busy, observed: observed, lostAfter: .minutes(5), now: t0, store: store
            ).isEmpty)
        let empty = ClusterSnapshot(
            nodes: ["bb": .init(info: NodeInfo(capacity: .defaultRequest, engine: "test"), containers: [])],
            takenAt: t0)
        #expect(
            try ClusterNodes.forgetEmpty(
                resolved.retired, snapshot: empty, observed: observed, lostAfter: .minutes(5), now: t0, store: store)
                == ["bb"])
        let after = try ClusterNodes.resolve(declared: [a], store: store, now: t0 + 180)
        #expect(after.retired.isEmpty)
        #expect(try store.nodeDrains().isEmpty)
        // A removed node that never answers again is forgotten once it is lost.
        _ = try ClusterNodes.resolve(declared: [a, b], store: store, now: t0)
        let gone = try ClusterNodes.resolve(declared: [a], store: store, now: t0)
        let silent = ClusterSnapshot(nodes: [:], takenAt: t0)
        let lost = Observed(nodes: [ObservedNode(name: "bb", capacity: .defaultRequest, unreachableSince: t0)])
        #expect(
            try ClusterNodes.forgetEmpty(
                gone.retired, snapshot: silent, observed: lost, lostAfter: .minutes(5), now: t0 + 60, store: store
            ).isEmpty)
        #expect(
            try ClusterNodes.forgetEmpty(
                gone.retired, snapshot: silent, observed: lost, lostAfter: .minutes(5), now: t0 + 300, store: store)
                == ["bb"])
    }
}
