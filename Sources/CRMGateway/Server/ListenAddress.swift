import Foundation
import NIOCore

/// Checks that the server can listen on a host and port before it writes
/// anything, and says in plain words why it cannot.
enum ListenAddress {
    /// Binds and closes a socket on `host:port`; throws a plain-word reason if
    /// the port is taken, privileged, or the address is not this machine's.
    /// Port 0 (any free port) always passes.
    static func checkFree(host: String, port: Int, flag: String) throws(ConfigurationError) {
        guard port != 0 else { return }
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw ConfigurationError("cannot listen on \(host):\(port) (\(flag)): the host name does not resolve")
        }
        let descriptor = socket(Int32(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var reuse: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        let result = address.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard result != 0 else { return }
        throw failure(host: host, port: port, flag: flag, errno: errno)
    }

    /// A bind error from the event loop (or the check above) in plain words.
    static func failure(host: String, port: Int, flag: String, errno code: Int32) -> ConfigurationError {
        let reason =
            switch code {
            case EADDRINUSE: "the port is already in use (another crmgate or another program listens there)"
            case EACCES: "permission denied (ports below 1024 need privileges)"
            case EADDRNOTAVAIL: "the address is not one of this machine's"
            default: String(cString: strerror(code))
            }
        return ConfigurationError("cannot listen on \(host):\(port) (\(flag)): \(reason)")
    }

    /// ``failure(host:port:flag:errno:)`` for an error NIO threw while binding, if it carries an errno.
    static func failure(host: String, port: Int, flag: String, error: any Error) -> any Error {
        guard let io = error as? IOError else { return error }
        return failure(host: host, port: port, flag: flag, errno: io.errnoCode)
    }
}
