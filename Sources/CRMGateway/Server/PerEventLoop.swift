import NIOCore
import Synchronization

/// One value per event loop, made the first time a loop asks for it: state
/// its connections share without a lock between loops (command counters, the
/// reply flusher).
final class PerEventLoop<Value: Sendable>: Sendable {
    private let values = Mutex<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable (any EventLoop) -> Value

    init(_ make: @escaping @Sendable (any EventLoop) -> Value) {
        self.make = make
    }

    /// `eventLoop`'s value.
    func value(for eventLoop: any EventLoop) -> Value {
        values.withLock { values in
            let key = ObjectIdentifier(eventLoop)
            if let value = values[key] { return value }
            let value = make(eventLoop)
            values[key] = value
            return value
        }
    }

    /// Every loop's value made so far.
    var all: [Value] { values.withLock { Array($0.values) } }
}
