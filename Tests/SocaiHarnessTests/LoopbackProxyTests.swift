import Foundation
import Testing

@testable import SocaiHarness

#if canImport(Glibc)
    import Glibc
#endif

/// The proxy behind `disconnect`: it forwards bytes both ways, and once blocked it closes
/// open connections and refuses new ones until restored.
@Suite struct LoopbackProxyTests {
    /// Accepts one connection at a time and echoes what it reads.
    static func startEchoServer() throws -> (port: Int, listener: Int32) {
        let port = try LoopbackProxy.freePorts(1)[0]
        let listener = try LoopbackProxy.listen(port: port)
        Thread {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread {
                    var buffer = [UInt8](repeating: 0, count: 1024)
                    while true {
                        let count = read(client, &buffer, buffer.count)
                        if count <= 0 { break }
                        _ = send(client, buffer, count, Int32(MSG_NOSIGNAL))
                    }
                    close(client)
                }.start()
            }
        }.start()
        return (port, listener)
    }

    /// Sends `text` and reads the echo; nil when the link is closed or nothing comes back
    /// within `waitingSeconds`: long for an echo that must come (a loaded machine), short for
    /// one that must not.
    static func roundTrip(_ descriptor: Int32, _ text: String, waitingSeconds: Int = 10) -> String? {
        let bytes = Array(text.utf8)
        guard send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return nil }
        var timeout = timeval(tv_sec: waitingSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = read(descriptor, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    @Test func forwardsThenCutsThenRestores() throws {
        let echo = try Self.startEchoServer()
        defer {
            shutdown(echo.listener, Int32(SHUT_RDWR))
            close(echo.listener)
        }
        let proxy = LoopbackProxy(listenPort: try LoopbackProxy.freePorts(1)[0], targetPort: echo.port)
        try proxy.start()
        defer { proxy.stop() }

        let first = try #require(LoopbackProxy.connect(port: proxy.listenPort))
        defer { close(first) }
        #expect(Self.roundTrip(first, "hello") == "hello")

        proxy.setBlocked(true)
        #expect(Self.roundTrip(first, "lost", waitingSeconds: 2) == nil)
        // New connections are accepted by the kernel, then closed at once.
        if let refused = LoopbackProxy.connect(port: proxy.listenPort) {
            #expect(Self.roundTrip(refused, "lost", waitingSeconds: 2) == nil)
            close(refused)
        }

        proxy.setBlocked(false)
        let again = try #require(LoopbackProxy.connect(port: proxy.listenPort))
        defer { close(again) }
        #expect(Self.roundTrip(again, "back") == "back")
    }
}
