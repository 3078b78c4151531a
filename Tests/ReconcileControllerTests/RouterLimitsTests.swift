import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import ReconcileTesting
import Testing

@testable import ReconcileRouter

/// What a client can make the router hold while no replica is ready: a bounded number of waiting
/// connections per port, and a bounded number of bytes held for each.
@Suite struct RouterLimitsTests {
    /// A connection that sends nothing and reads until the peer closes; true when it was closed
    /// within `seconds` (the router refused it), false when it stayed open.
    static func closedByPeer(_ socket: Int32, within seconds: Int32) -> Bool {
        var entry = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, seconds * 1000) > 0 else { return false }
        var byte: UInt8 = 0
        return read(socket, &byte, 1) <= 0
    }

    /// Bounds of 120 s, not expectations: the router runs on this test process's cooperative pool,
    /// which the parallel suite can hold for tens of seconds (a 20 s bound failed once).
    @Test(.timeLimit(.minutes(5))) func connectionsWaitingForAReplicaAreCappedPerPort() async throws {
        let router = Router(waitForBackend: 600, maxWaiting: 3)
        let port = try await listening(router, [])
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<3 { held.append(try #require(Loopback.connected(port: port))) }
        let counted = Date().addingTimeInterval(120)
        var waiting = 0
        while waiting < 3, Date() < counted {
            waiting = await router.waitingConnections(port)
            if waiting < 3 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(waiting == 3)
        // The fourth is closed at once; the three stay open, waiting.
        let fourth = try #require(Loopback.connected(port: port))
        defer { close(fourth) }
        #expect(await Blocking.run { Self.closedByPeer(fourth, within: 120) })
        let firstStillOpen = await Blocking.run { [held] in !Self.closedByPeer(held[0], within: 1) }
        #expect(firstStillOpen)
        #expect(await router.waitingConnections(port) == 3)
        await router.shutdown()
    }

    /// The handler holding a connection's first bytes stops asking for more once it holds 64 KiB,
    /// and asks again when the splice takes the connection.
    @Test func aWaitingConnectionStopsBeingReadAt64KiB() throws {
        final class ReadCounter: ChannelOutboundHandler {
            typealias OutboundIn = Never
            var reads = 0
            func read(context: ChannelHandlerContext) {
                reads += 1
                context.read()
            }
        }
        let counter = ReadCounter()
        let hold = HoldUntilSpliced()
        let channel = EmbeddedChannel(handlers: [counter, hold])
        channel.read()
        #expect(counter.reads == 1)
        try channel.writeInbound(ByteBuffer(repeating: 1, count: 40 * 1024))
        channel.read()
        #expect(counter.reads == 2)
        try channel.writeInbound(ByteBuffer(repeating: 1, count: 40 * 1024))
        channel.read()
        channel.read()
        #expect(counter.reads == 2, "reads went on past 64 KiB held")
        try channel.pipeline.syncOperations.removeHandler(hold).wait()
        #expect(counter.reads == 3, "the splice did not resume reading")
        _ = try? channel.finish()
    }
}
