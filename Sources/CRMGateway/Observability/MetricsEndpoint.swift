import NIOCore
import NIOHTTP1

/// The optional Prometheus endpoint (`--metrics-port`): plain HTTP/1.1,
/// `GET /metrics` answers every metric in the text exposition format,
/// anything else 404 (or 405 for other methods).
final class MetricsEndpoint: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: GatewayMetrics
    private var request: HTTPRequestHead?

    init(metrics: GatewayMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, body): (HTTPResponseStatus, [UInt8]) =
                switch (head.method, head.uri.split(separator: "?").first ?? "") {
                case (.GET, "/metrics"): (.ok, metrics.exposition())
                case (_, "/metrics"): (.methodNotAllowed, Array("only GET\n".utf8))
                default: (.notFound, Array("metrics are at /metrics\n".utf8))
                }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.count))
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
