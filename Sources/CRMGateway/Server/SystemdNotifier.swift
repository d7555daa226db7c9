#if canImport(Glibc)
    import Glibc
#endif

/// Tells systemd about the server's state (`Type=notify` units): a datagram
/// to `$NOTIFY_SOCKET`, as `sd_notify(3)` sends it. Does nothing outside systemd.
enum SystemdNotifier {
    /// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=…`); returns whether it was delivered.
    @discardableResult
    static func notify(_ state: String) -> Bool {
        #if canImport(Glibc)
            guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty,
                path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path)
            else { return false }
            let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(path.utf8)
            // A leading '@' names a socket in the abstract namespace.
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    Array(state.utf8).withUnsafeBytes { message in
                        sendto(descriptor, message.baseAddress, message.count, Int32(MSG_NOSIGNAL), address, length)
                    }
                }
            }
            return sent >= 0
        #else
            return false
        #endif
    }
}
