import Foundation
import Synchronization

/// Reads a pipe to its end on a thread of its own, with blocking reads.
///
/// `FileHandle.readabilityHandler` would arm a libdispatch read source, and
/// tearing those down crashes libdispatch's event loop on Linux
/// (swift-corelibs-libdispatch#949: a freed epoll muxnote is drained); a
/// blocking read never registers the descriptor with libdispatch.
final class PipeDrain: Sendable {
    private struct State {
        var data = Data()
        var ended = false
        var waiters: [CheckedContinuation<Data, Never>] = []
    }

    private let state = Mutex(State())
    /// Entered until the pipe ends.
    private let reading = DispatchGroup()

    /// Starts draining `handle` (the read end of a pipe whose write end the child holds).
    init(_ handle: FileHandle) {
        reading.enter()
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                state.withLock { $0.data.append(chunk) }
            }
            let (data, waiters) = state.withLock { state in
                state.ended = true
                defer { state.waiters = [] }
                return (state.data, state.waiters)
            }
            reading.leave()
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

    /// Everything the pipe carried, waiting on this (non-concurrency) thread for its end.
    func endedBlocking() -> Data {
        reading.wait()
        return state.withLock { $0.data }
    }
}
