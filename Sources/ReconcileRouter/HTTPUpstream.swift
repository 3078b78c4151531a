import NIOCore
import NIOHTTP1

/// A keep-alive connection to one replica (after NIO's HTTP client codec), on the event loop of
/// the client connection it serves. While leased it relays the response to its `frontend`; idle,
/// it waits in the balancer's pool, and a close there takes it out.
final class HTTPUpstream: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let backend: String
    private let balancer: Balancer
    private var context: ChannelHandlerContext?
    /// The client connection this one answers now; nil while pooled.
    var frontend: HTTPFrontend?
    private var keepAlive = true
    private var readHeld = false

    init(backend: String, balancer: Balancer) {
        self.backend = backend
        self.balancer = balancer
    }

    var channel: any Channel { context!.channel }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() { context?.flush() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let frontend else {
            // A pooled connection is not spoken to: anything it says ends it.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx answers other than 101 are dropped by the decoder; 101 is never asked for here.
            keepAlive = head.isKeepAlive
            frontend.upstreamHead(head)
        case .body(let part):
            frontend.upstreamBody(part)
        case .end(let trailers):
            frontend.upstreamEnd(trailers, reusable: keepAlive)
            // The frontend takes the connection back (pools or closes it) when the response was its
            // exchange's; one it did not take has no owner left: close it rather than leave it open.
            if self.frontend === frontend {
                self.frontend = nil
                context.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        frontend?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let frontend {
            self.frontend = nil
            frontend.upstreamFailed()
        } else {
            balancer.forget(backend, context.channel)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { frontend?.upstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    /// Reads pause while the client cannot take the response as fast as it comes.
    func read(context: ChannelHandlerContext) {
        if let frontend, !frontend.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }
}
