import CRMProtocol
import NIOCore

/// libFuzzer entry point over the request decoder (RESP multibulk and inline).
///
/// The first byte of the input picks how the rest is cut into reads, so
/// frames split at every kind of boundary are tried. Each decoded command must
/// respect the limits, and must decode back to itself once re-encoded.
func fuzzRESPDecoder(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: start, count: count)
    let chunkSize = 1 + Int(bytes[0]) % 64
    let limits = ProtocolLimits(maxInlineLength: 256, maxBulkLength: 512, maxArguments: 16, maxPendingBytes: 2048)
    var decoder = RESPCommandDecoder(limits: limits)
    var inbound = ByteBuffer()
    var offset = 1
    do {
        while offset < count {
            let end = min(count, offset + chunkSize)
            inbound.writeBytes(UnsafeBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while let command = try decoder.decode(buffer: &inbound) {
                check(command, limits: limits)
            }
            inbound.discardReadBytes()
        }
        while let command = try decoder.decodeLast(buffer: &inbound, seenEOF: true) {
            check(command, limits: limits)
        }
    } catch is RESPProtocolError {
        return 0
    } catch {
        fatalError("the decoder threw something other than a protocol error: \(error)")
    }
    return 0
}

private func check(_ command: RESPCommand, limits: ProtocolLimits) {
    precondition(!command.arguments.isEmpty, "an empty command was decoded")
    precondition(command.arguments.count <= limits.maxArguments, "more arguments than the limit")
    precondition(command.arguments.allSatisfy { $0.readableBytes <= max(limits.maxBulkLength, limits.maxInlineLength) })
    var wire = ByteBuffer()
    wire.writeRESPCommand(command.arguments.map { String(decoding: $0.readableBytesView, as: UTF8.self) })
    let reencoded = command.arguments.allSatisfy { String(validating: $0.readableBytesView, as: UTF8.self) != nil }
    guard reencoded else { return }
    var decoder = RESPCommandDecoder(limits: limits)
    let again = try? decoder.decode(buffer: &wire)
    precondition(again == command, "a re-encoded command decoded differently")
}
