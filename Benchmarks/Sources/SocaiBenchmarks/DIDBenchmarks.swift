import Dispatch
import Foundation
import Hummingbird
import SocaiAPI
import SocaiCore
import SocaiCrypto
import SocaiDID
import SocaiNode
import SocaiState

#if canImport(Glibc)
    import Glibc
#endif

/// DID resolution: resolutions per second in process (resolver over the node's SQLite state),
/// then `GET /1.0/identifiers/{did}` over loopback HTTP with 64 concurrent keep-alive
/// clients — throughput and p50/p99 latency. Targets: p99 ≤ 5 ms, ≥ 10,000 resolutions/s.
enum DIDBenchmarks {
    static let concurrentClients = 64
    static let httpSeconds = 5.0
    static let port = 36_901
    /// Most requests one client sends (bounds its latency array).
    static let requestsPerClientMax = 200_000

    static func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-didbench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let chainID = try ChainID("socai-did-bench")
        let generator = LocalnetGenerator(chainID: chainID, validatorCount: 1, genesisTimeMilliseconds: 1_000)
        let written = try generator.write(
            genesisPath: directory + "/genesis.json", nodesDirectory: directory + "/nodes", overwrite: false)
        let node = try DevelopmentNode(home: try NodeHome(path: written.nodeHomes[0]))
        let key = try SigningKey(seed: SHA256.hash(Array("did bench".utf8)))
        let did = DID(initialKey: PublicKey(of: key))
        let service = try DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://bench.example")
        try blocking {
            _ = try await node.submit(try DIDCreate(did: did, services: [service]).envelope(chainID: chainID, key: key, nonce: 1))
        }

        // In process: one query holds the state, the loop resolves and renders the result.
        let inProcess = try blocking {
            try await node.query { queries, _, _ in
                singleThreadRate {
                    let result = DIDResolver.resolve(did.value, ledger: queries).result
                    precondition(result.httpStatus == 200)
                    _ = DIDJSON.encode(result.didDocument!)
                }
            }
        }
        SocaiBenchmarks.report("DID resolve + render, in process (SQLite state)", inProcess, "resolutions/s")
        // Through the node, one query per resolution, as the HTTP route does it.
        let throughNode = try blocking {
            let start = DispatchTime.now().uptimeNanoseconds
            var calls = 0
            while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < SocaiBenchmarks.measurementSecondsMin {
                let result = try await node.query { queries, _, _ in DIDResolver.resolve(did.value, ledger: queries).result }
                precondition(result.httpStatus == 200)
                _ = DIDJSON.encode(result.didDocument!)
                calls += 1
            }
            return Double(calls) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        SocaiBenchmarks.report("DID resolve + render, one node query each", throughNode, "resolutions/s")
        let keyDID = DIDKey.identifier(for: PublicKey(of: key))
        let offline = SocaiBenchmarks.rate(threads: 1) {
            precondition(DIDResolver.resolve(keyDID, ledger: nil).result.httpStatus == 200)
        }
        SocaiBenchmarks.report("did:key resolve, in process", offline, "resolutions/s")

        // Over HTTP: the node's router on loopback, 64 clients each on its own thread.
        let application = Application(
            router: SocaiAPI.router(node: node),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)))
        let server = Task { try await application.runService() }
        defer { server.cancel() }
        var ready = false
        for _ in 0..<200 where !ready {
            if let probe = LoopbackClient(port: port) {
                ready = probe.get("/health") != nil
                probe.close()
            }
            if !ready { usleep(20_000) }
        }
        guard ready else {
            print("DID HTTP benchmark skipped: the server did not start on port \(port)")
            return
        }
        // The same clients against `/health` first: the floor HTTP itself sets on this machine.
        let floor = measure(path: "/health")
        if let floor {
            SocaiBenchmarks.report(
                "GET /health over HTTP, \(concurrentClients) clients (floor)", floor.rate, "requests/s")
            SocaiBenchmarks.report("GET /health over HTTP, p50 / p99 latency", floor.p50Milliseconds, "ms (p50)")
            SocaiBenchmarks.report("", floor.p99Milliseconds, "ms (p99)")
        }
        guard let resolve = measure(path: "/1.0/identifiers/" + did.value) else {
            print("DID HTTP benchmark: no request succeeded")
            return
        }
        SocaiBenchmarks.report("DID resolve over HTTP, \(concurrentClients) clients", resolve.rate, "resolutions/s")
        SocaiBenchmarks.report("DID resolve over HTTP, p50 latency", resolve.p50Milliseconds, "ms")
        SocaiBenchmarks.report("DID resolve over HTTP, p99 latency", resolve.p99Milliseconds, "ms")
    }

    /// `concurrentClients` keep-alive clients, each on its own thread, sending GET `path` in a
    /// closed loop for `httpSeconds`: requests per second and latency percentiles.
    static func measure(path: String) -> (rate: Double, p50Milliseconds: Double, p99Milliseconds: Double)? {
        let latencies = LatencyCollector()
        let start = DispatchTime.now().uptimeNanoseconds
        let group = DispatchGroup()
        for _ in 0..<concurrentClients {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                guard let client = LoopbackClient(port: port) else { return }
                defer { client.close() }
                var samples: [UInt64] = []
                samples.reserveCapacity(4_096)
                while samples.count < requestsPerClientMax,
                    Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < httpSeconds
                {
                    let begin = DispatchTime.now().uptimeNanoseconds
                    guard client.get(path) == 200 else { return }
                    samples.append(DispatchTime.now().uptimeNanoseconds - begin)
                }
                latencies.add(samples)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let sorted = latencies.all.sorted()
        guard !sorted.isEmpty else { return nil }
        func percentile(_ fraction: Double) -> Double {
            Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1e6
        }
        return (Double(sorted.count) / seconds, percentile(0.50), percentile(0.99))
    }

    /// Calls `body` on this thread for at least `SocaiBenchmarks.measurementSecondsMin`; calls
    /// per second, best of 3 (for bodies that must stay on one thread, such as a held query).
    static func singleThreadRate(_ body: () -> Void) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            var calls = 0
            var seconds = 0.0
            while seconds < SocaiBenchmarks.measurementSecondsMin {
                for _ in 0..<64 { body() }
                calls += 64
                seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
            best = max(best, Double(calls) / seconds)
        }
        return best
    }

    /// Runs async work from the synchronous benchmark driver.
    static func blocking<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
        let box = AsyncResultBox<Value>()
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return try box.result!.get()
    }
}

/// The result of async work handed to a waiting thread (written once, before the signal).
final class AsyncResultBox<Value>: @unchecked Sendable {
    var result: Result<Value, Error>?
}

/// Latency samples from many threads.
final class LatencyCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [UInt64] = []

    func add(_ more: [UInt64]) {
        lock.lock()
        samples += more
        lock.unlock()
    }

    var all: [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return samples
    }
}

/// A blocking HTTP/1.1 keep-alive client for loopback: enough to send GETs and read
/// `Content-Length` bodies, without URLSession's per-request overhead.
final class LoopbackClient {
    static let responseBytesMax = 1 << 20
    private let socketDescriptor: Int32
    private var buffer: [UInt8] = []

    init?(port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            return nil
        }
        var noDelay: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        socketDescriptor = descriptor
    }

    func close() { Glibc.close(socketDescriptor) }

    /// Sends a GET and reads the whole response; returns its status, or nil on a broken connection.
    func get(_ path: String) -> Int? {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/did+ld+json\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(socketDescriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            sent += count
        }
        var headerEnd: Int?
        while headerEnd == nil {
            headerEnd = Self.find(Array("\r\n\r\n".utf8), in: buffer)
            if headerEnd == nil { guard receive() else { return nil } }
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard length <= Self.responseBytesMax else { return nil }
        let total = headerEnd! + 4 + length
        while buffer.count < total { guard receive() else { return nil } }
        buffer.removeFirst(total)
        return status
    }

    private func receive() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0, buffer.count + count <= Self.responseBytesMax else { return false }
        buffer += chunk[..<count]
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}
