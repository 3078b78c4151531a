import NIOCore
import NIOSSL

/// Two connections relaying bytes to each other until either closes (an upgraded connection: a
/// WebSocket). Each side reads only while the other can take more.
enum Tunnel {
    /// Joins the client connection (its HTTP handlers bypassed: the relay sits before them, after
    /// TLS) and a new connection to the replica, then sends the replica the request head.
    static func join(_ client: any Channel, _ upstream: any Channel, sending head: ByteBuffer) {
        let (front, back) = (Relay(), Relay())
        front.partner = back
        back.partner = front
        do {
            let operations = client.pipeline.syncOperations
            if let tls = try? operations.handler(type: NIOSSLServerHandler.self) {
                try operations.addHandler(front, position: .after(tls))
            } else {
                try operations.addHandler(front, position: .first)
            }
            try upstream.pipeline.syncOperations.addHandler(back)
        } catch {
            client.close(promise: nil)
            upstream.close(promise: nil)
            return
        }
        upstream.writeAndFlush(head, promise: nil)
        front.start()
        back.start()
    }
}

/// One side of a tunnel (both sides' channels run on one event loop).
final class Relay: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var partner: Relay?
    private var context: ChannelHandlerContext?
    private var readHeld = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func start() { context?.read() }

    private func write(_ data: ByteBuffer) { context?.write(wrapOutboundOut(data), promise: nil) }
    private func flush() { context?.flush() }
    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func close() {
        guard let context else { return }
        context.close(promise: nil)
    }

    private func partnerWritable() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.write(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
        // The handlers behind this one may hold reads (the HTTP server's pipelining): ask here.
        read(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.flush()
        partner?.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, !partner.isWritable {
            readHeld = true
            return
        }
        context.read()
    }
}
