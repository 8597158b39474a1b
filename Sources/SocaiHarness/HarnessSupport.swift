import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a harness run could not be carried out (as opposed to an invariant failing).
public struct HarnessError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// A file or directory could not be written or read.
        case io
        /// A child process could not be started or failed.
        case process
        /// A socket could not be opened.
        case socket
        /// The network did not start committing in time.
        case startTimeout
    }

    /// The kind of failure.
    public let code: Code
    /// What went wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Blocking HTTP calls to a node's API, each with a timeout.
enum HarnessHTTP {
    /// Largest response body kept, in bytes.
    static let responseBytesMax = 4 << 20

    final class Box: @unchecked Sendable {
        var status = 0
        var data = Data()
        var failed = false
    }

    /// Sends a request; nil when the node did not answer in time.
    static func request(_ method: String, _ url: String, body: Data? = nil, timeoutSeconds: Double) -> (
        status: Int, body: Data
    )? {
        guard let address = URL(string: url) else { return nil }
        var request = URLRequest(url: address)
        request.httpMethod = method
        request.timeoutInterval = timeoutSeconds
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if error != nil || response == nil {
                box.failed = true
            } else {
                box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
                box.data = (data ?? Data()).prefix(responseBytesMax)
            }
            done.signal()
        }.resume()
        done.wait()
        return box.failed ? nil : (box.status, box.data)
    }

    /// GETs a JSON object; nil unless status 200.
    static func json(_ url: String, timeoutSeconds: Double = 3) -> [String: Any]? {
        guard let (status, body) = request("GET", url, timeoutSeconds: timeoutSeconds), status == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
    }

    /// GETs Prometheus text and returns the samples by name.
    static func metrics(_ url: String, timeoutSeconds: Double = 2) -> [String: Double]? {
        guard let (status, body) = request("GET", url, timeoutSeconds: timeoutSeconds), status == 200 else { return nil }
        var samples: [String: Double] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { samples[String(parts[0])] = value }
        }
        return samples
    }
}

/// One `socai node start` child process; its output is appended to a log file.
final class NodeProcess: @unchecked Sendable {
    let binary: String
    let home: String
    let logPath: String
    let environment: [String: String]
    private var process: Process?
    private let lock = NSLock()

    init(binary: String, home: String, logPath: String, environment: [String: String]) {
        self.binary = binary
        self.home = home
        self.logPath = logPath
        self.environment = environment
    }

    var processIdentifier: Int32? { lock.withLock { process?.isRunning == true ? process?.processIdentifier : nil } }

    func start() throws(HarnessError) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = ["node", "start", "--home", home]
        var base = ProcessInfo.processInfo.environment
        base.merge(environment) { $1 }
        child.environment = base
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            handle.seekToEndOfFile()
            handle.write(Data("---- harness: starting \(home) ----\n".utf8))
            child.standardOutput = handle
            child.standardError = handle
            child.standardInput = FileHandle.nullDevice
            try child.run()
        } catch {
            throw HarnessError(.process, "cannot start \(binary) node start --home \(home): \(error)")
        }
        lock.withLock { process = child }
    }

    /// Sends `signal` and, for stopping signals, waits up to `waitSeconds` for the exit.
    func send(_ signal: Int32, waitSeconds: Double = 0) {
        let child = lock.withLock { process }
        guard let child, child.isRunning else { return }
        kill(child.processIdentifier, signal)
        guard waitSeconds > 0 else { return }
        let deadline = Date().addingTimeInterval(waitSeconds)
        while child.isRunning, Date() < deadline { usleep(50_000) }
        if child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
    }
}

/// A loopback TCP forwarder the harness owns: one per (dialing node, target node) pair, so
/// cutting a node off is refusing and closing every forwarder it is an end of.
final class LoopbackProxy: @unchecked Sendable {
    /// Bytes copied per read.
    static let bufferBytes = 64 * 1024
    /// Most connections held at once by one proxy.
    static let connectionsMax = 64

    let listenPort: Int
    let targetPort: Int
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var blocked = false
    private var connections: Set<Int32> = []
    private var stopped = false

    init(listenPort: Int, targetPort: Int) {
        self.listenPort = listenPort
        self.targetPort = targetPort
    }

    func start() throws(HarnessError) {
        let socketDescriptor = try Self.listen(port: listenPort)
        lock.withLock { listener = socketDescriptor }
        let thread = Thread { [self] in acceptLoop(socketDescriptor) }
        thread.start()
    }

    /// Cuts (true) or restores (false) the link: cutting closes open connections and refuses new ones.
    func setBlocked(_ value: Bool) {
        let open: Set<Int32> = lock.withLock {
            blocked = value
            return value ? connections : []
        }
        for descriptor in open { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    func stop() {
        let (listening, open): (Int32, Set<Int32>) = lock.withLock {
            stopped = true
            return (listener, connections)
        }
        if listening >= 0 {
            shutdown(listening, Int32(SHUT_RDWR))
            close(listening)
        }
        for descriptor in open { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ listening: Int32) {
        while true {
            let client = accept(listening, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR { continue }
                return
            }
            let refuse = lock.withLock { blocked || stopped || connections.count >= Self.connectionsMax * 2 }
            guard !refuse, let upstream = Self.connect(port: targetPort) else {
                close(client)
                continue
            }
            lock.withLock {
                connections.insert(client)
                connections.insert(upstream)
            }
            let pair = PumpPair()
            Thread { [self] in pump(from: client, to: upstream, pair: pair) }.start()
            Thread { [self] in pump(from: upstream, to: client, pair: pair) }.start()
        }
    }

    /// Counts the two pumps of one connection; the last to finish closes both descriptors,
    /// so neither is closed (and its number reused) while the other pump still uses it.
    final class PumpPair: @unchecked Sendable {
        let lock = NSLock()
        var running = 2
        /// True for the last pump to finish.
        func finish() -> Bool {
            lock.withLock {
                running -= 1
                return running == 0
            }
        }
    }

    /// Copies bytes until either side closes, then shuts both down.
    private func pump(from source: Int32, to destination: Int32, pair: PumpPair) {
        var buffer = [UInt8](repeating: 0, count: Self.bufferBytes)
        outer: while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, Self.bufferBytes) }
            if count <= 0 { break }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes {
                    send(destination, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL))
                }
                if result <= 0 { break outer }
                written += result
            }
        }
        shutdown(destination, Int32(SHUT_RDWR))
        shutdown(source, Int32(SHUT_RDWR))
        guard pair.finish() else { return }
        lock.withLock {
            connections.remove(source)
            connections.remove(destination)
        }
        close(source)
        close(destination)
    }

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    static func listen(port: Int) throws(HarnessError) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError(.socket, "socket() failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = address(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw HarnessError(.socket, "cannot listen on 127.0.0.1:\(port): errno \(errno)")
        }
        return descriptor
    }

    static func connect(port: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = address(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// `count` loopback ports that were free a moment ago (the kernel picks them).
    static func freePorts(_ count: Int) throws(HarnessError) -> [Int] {
        precondition(count <= 1_024)
        var descriptors: [Int32] = []
        defer { for descriptor in descriptors { close(descriptor) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let descriptor = try listen(port: 0)
            descriptors.append(descriptor)
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}
