import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a pipe to its end on a thread of its own, with blocking reads.
///
/// `FileHandle.readabilityHandler` would arm a libdispatch read source, and
/// tearing those down crashes libdispatch's event loop on Linux
/// (swift-corelibs-libdispatch#949: a freed epoll muxnote is drained); a
/// blocking read never registers the descriptor with libdispatch. The reads
/// are `read(2)` itself: `FileHandle.availableData` stops the process with a
/// fatal error when a signal interrupts it (`EINTR`).
final class PipeDrain: Sendable {
    private struct State {
        var data = Data()
        var ended = false
        var waiters: [CheckedContinuation<Data, Never>] = []
    }

    private let state = Mutex(State())

    /// Starts draining `descriptor` (the read end of a pipe whose write end the
    /// child holds), and closes it at the end.
    init(_ descriptor: Int32) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count == -1, errno == EINTR { continue }
                guard count > 0 else { break }
                state.withLock { $0.data.append(contentsOf: buffer[0..<count]) }
            }
            close(descriptor)
            let (data, waiters) = state.withLock { state in
                state.ended = true
                defer { state.waiters = [] }
                return (state.data, state.waiters)
            }
            for waiter in waiters { waiter.resume(returning: data) }
        }
        thread.name = "test pipe drain"
        thread.start()
    }

    /// What has been read so far.
    var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }

    /// Everything the pipe carried, once every writer has closed it.
    func ended() async -> Data {
        await withCheckedContinuation { continuation in
            let data: Data? = state.withLock { state in
                if state.ended { return state.data }
                state.waiters.append(continuation)
                return nil
            }
            if let data { continuation.resume(returning: data) }
        }
    }
}
