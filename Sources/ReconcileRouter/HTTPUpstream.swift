import NIOCore

/// A keep-alive connection to one replica, on the event loop of the client connection it serves.
/// It writes requests itself (the head serialized, a chunked body framed again) and splits the
/// replica's bytes into responses with `ResponseFramer`, handing each on as it came: no HTTP codec
/// runs on this side (the two codecs were a third of the router's time per request). While leased
/// it relays the response to its `frontend`; idle, it waits in the balancer's pool, and a close
/// there takes it out.
final class HTTPUpstream: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let backend: String
    private let balancer: Balancer
    private var context: ChannelHandlerContext?
    /// The client connection this one answers now; nil while pooled.
    var frontend: HTTPFrontend?
    private var readHeld = false
    private var framer = ResponseFramer()
    private var input: ByteBuffer?
    private var keepAlive = true
    /// The request body goes out chunked (its length was not given).
    private var chunkedRequest = false
    /// Requests sent on this connection so far.
    private var leases = 0
    /// Bytes were written since the last flush (a flush with none still walks the pipeline).
    private var unflushed = false

    init(backend: String, balancer: Balancer) {
        self.backend = backend
        self.balancer = balancer
    }

    var channel: any Channel { context!.channel }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Writes a request's head (not flushed); `bodyless`: the response has no body (HEAD).
    func sendHead(_ head: ByteBuffer, bodyless: Bool, chunked: Bool) {
        guard let context else { return }
        leases &+= 1
        framer.reset(bodyless: bodyless)
        keepAlive = true
        chunkedRequest = chunked
        unflushed = true
        context.write(wrapOutboundOut(head), promise: nil)
    }

    /// Writes a request body part (not flushed), chunked when the request is.
    func sendBody(_ part: ByteBuffer) {
        guard let context else { return }
        unflushed = true
        guard chunkedRequest else {
            context.write(wrapOutboundOut(part), promise: nil)
            return
        }
        HTTPHeads.chunk(part, allocator: context.channel.allocator) {
            context.write(wrapOutboundOut($0), promise: nil)
        }
    }

    /// Writes the request's end (not flushed): the last chunk and trailer lines of a chunked body.
    func sendEnd(_ trailers: [ByteBuffer]) {
        guard let context, chunkedRequest else { return }
        var last = context.channel.allocator.buffer(capacity: 64)
        last.writeStaticString("0\r\n")
        for line in trailers { HTTPHeads.writeLine(line, to: &last) }
        last.writeStaticString("\r\n")
        unflushed = true
        context.write(wrapOutboundOut(last), promise: nil)
    }

    func flush() {
        guard unflushed else { return }
        unflushed = false
        context?.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard frontend != nil else {
            // A pooled connection is not spoken to: anything it says ends it.
            context.close(promise: nil)
            return
        }
        let serving = frontend
        serving?.eventStarts()
        defer { serving?.eventEnds() }
        var bytes = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        do {
            while var buffer = input, let frontend {
                input = nil
                let event = try framer.next(&buffer)
                input = buffer
                guard let event else { break }
                switch event {
                case .head(let head):
                    keepAlive = head.keepAlive
                    framer.passChunks = frontend.upstreamHead(head)
                case .informational(let head):
                    frontend.upstreamInformational(head)
                case .body(let part):
                    frontend.upstreamBody(part)
                case .end:
                    // Bytes after the response's end were never asked for: the connection is not reused.
                    let reusable = keepAlive && (input?.readableBytes ?? 0) == 0
                    finished(frontend, context: context, reusable: reusable)
                    return
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }

    /// The response ended: the frontend takes the connection back (pools or closes it). One it did
    /// not take has no owner left: it is closed rather than left open. Taking it back may lease it
    /// again at once (the client's next request was pipelined behind this one): that is a new lease.
    private func finished(_ frontend: HTTPFrontend, context: ChannelHandlerContext, reusable: Bool) {
        input = nil
        let lease = leases
        frontend.upstreamEnd(reusable: reusable)
        if self.frontend === frontend, leases == lease {
            self.frontend = nil
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        frontend?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let frontend {
            if framer.closed() {
                // A body that runs to the connection's end has ended.
                self.frontend = nil
                frontend.upstreamEnd(reusable: false)
            } else {
                self.frontend = nil
                frontend.upstreamFailed()
            }
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
