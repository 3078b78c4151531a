import Foundation
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Bounds what a client can make the HTTP server hold, per connection (a channel handler after the
/// HTTP decoder): the request head must arrive within `headTimeout` of the connection opening (and
/// the next one within `keepAliveTimeout` of a response), a request's body within `bodyTimeout` of
/// its head; and the connections open at once are capped, in total and per client address. A
/// connection over a cap or a deadline is closed.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var maxConnections = 1024
        var maxConnectionsPerAddress = 128
        var headTimeout: TimeAmount = .seconds(10)
        var bodyTimeout: TimeAmount = .seconds(120)
        var keepAliveTimeout: TimeAmount = .seconds(60)
    }

    /// The connections open now, shared by every connection's guard.
    final class Ledger: Sendable {
        let limits: Limits
        private let open = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

        init(limits: Limits) { self.limits = limits }

        /// Counts a new connection in; false (nothing counted) when a cap is reached.
        func admit(_ address: String) -> Bool {
            open.withLock { open in
                guard open.total < limits.maxConnections,
                    open.byAddress[address, default: 0] < limits.maxConnectionsPerAddress
                else { return false }
                open.total += 1
                open.byAddress[address, default: 0] += 1
                return true
            }
        }

        func release(_ address: String) {
            open.withLock { open in
                open.total -= 1
                let left = open.byAddress[address, default: 1] - 1
                open.byAddress[address] = left > 0 ? left : nil
            }
        }

        var count: Int { open.withLock { $0.total } }
    }

    private enum Phase { case awaitingHead, readingBody, responding }

    private let ledger: Ledger
    private var address: String?
    private var phase = Phase.awaitingHead
    private var deadline: Scheduled<Void>?

    init(ledger: Ledger) { self.ledger = ledger }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard ledger.admit(address) else {
            context.close(promise: nil)
            return
        }
        self.address = address
        arm(context, ledger.limits.headTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) { end() }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    /// The connection is over: its deadline goes, its place is given back (once).
    private func end() {
        deadline?.cancel()
        deadline = nil
        if let address {
            ledger.release(address)
            self.address = nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            phase = .readingBody
            arm(context, ledger.limits.bodyTimeout)
        case .end:
            if phase == .readingBody {
                phase = .responding
                deadline?.cancel()
                deadline = nil
            }
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), phase == .responding {
            phase = .awaitingHead
            arm(context, ledger.limits.keepAliveTimeout)
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
