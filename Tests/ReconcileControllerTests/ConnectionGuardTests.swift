import Foundation
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import ReconcileServer

/// The HTTP server's per-connection bounds, on an embedded channel with a virtual clock.
@Suite struct ConnectionGuardTests {
    static let limits = ConnectionGuard.Limits(
        maxConnections: 3, maxConnectionsPerAddress: 2, headTimeout: .seconds(10), bodyTimeout: .seconds(120),
        keepAliveTimeout: .seconds(60))

    static func connected(_ ledger: ConnectionGuard.Ledger, from address: String) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: address, port: 40000)).wait()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(ledger: ledger))
        return channel
    }

    @Test func aHeadThatDoesNotArriveInTimeClosesTheConnection() throws {
        let ledger = ConnectionGuard.Ledger(limits: Self.limits)
        let slow = try Self.connected(ledger, from: "127.0.0.2")
        slow.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(slow.isActive)
        slow.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!slow.isActive, "a connection without a request head after 11 s is still open")
        #expect(ledger.count == 0)
    }

    @Test func aRequestGetsItsBodyDeadlineThenTheKeepAliveOne() throws {
        let ledger = ConnectionGuard.Ledger(limits: Self.limits)
        let channel = try Self.connected(ledger, from: "127.0.0.2")
        try channel.writeInbound(
            HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: "x", path: "/")))
        // The head came: the 10 s head deadline no longer applies, the body one does.
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        // While the handler works, no deadline.
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "an idle keep-alive connection outlived its deadline")
        // A body that trickles for longer than its deadline ends the connection too.
        let trickle = try Self.connected(ledger, from: "127.0.0.2")
        try trickle.writeInbound(
            HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: "x", path: "/")))
        for _ in 0..<13 {
            _ = try? trickle.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "a")))
            trickle.embeddedEventLoop.advanceTime(by: .seconds(10))
        }
        #expect(!trickle.isActive)
    }

    @Test func connectionsAreCappedInTotalAndPerAddress() throws {
        let ledger = ConnectionGuard.Ledger(limits: Self.limits)
        let a1 = try Self.connected(ledger, from: "127.0.0.2")
        let a2 = try Self.connected(ledger, from: "127.0.0.2")
        let a3 = try Self.connected(ledger, from: "127.0.0.2")
        #expect(a1.isActive && a2.isActive)
        #expect(!a3.isActive, "a third connection from one address was kept")
        let b1 = try Self.connected(ledger, from: "127.0.0.3")
        #expect(b1.isActive)
        let c1 = try Self.connected(ledger, from: "127.0.0.4")
        #expect(!c1.isActive, "a fourth connection in all was kept")
        #expect(ledger.count == 3)
        // A closed connection frees its place.
        _ = try? a1.close().wait()
        #expect(ledger.count == 2)
        let c2 = try Self.connected(ledger, from: "127.0.0.4")
        #expect(c2.isActive)
    }
}
