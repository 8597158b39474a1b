import Dispatch
import Foundation
import Hummingbird
import NIOPosix
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
///
/// The clients are 64 connections, each with one request in flight (closed loop), driven by
/// `LoopbackLoad`'s poll loop so the generator shares the 2 cores with the server cheaply.
/// A second run paces the same clients to the target rate and measures each latency from
/// its scheduled send time, for `pacedSeconds`. A `MachineProbe` watches whether the
/// machine itself withheld the CPU during the saturated resolver run and each paced run,
/// and each of these also reports its p99 over the slices no such slowdown touched. Beside the resolver stand the `/health` floor (HTTP alone, same
/// generator) and the resolver with every answer computed afresh (the node publishes no committed height, so
/// the route's per-height answer cache stays off): the cost of a cache miss.
enum DIDBenchmarks {
    static let concurrentClients = 64
    static let httpSeconds = 5.0
    /// Length of each paced run: long enough to hold several slices the machine left alone.
    static let pacedSeconds = 10.0
    /// The paced runs' latency is also cut into slices of this length, to set apart the
    /// slices in which the machine withheld the CPU (`MachineProbe`).
    static let sliceNanoseconds: UInt64 = 250_000_000
    /// A slice counts as clear only when no slowdown touched it or this long before it: the
    /// backlog a slowdown leaves takes a while to drain.
    static let drainNanoseconds: UInt64 = 100_000_000
    /// The paced run's offered rate: the throughput target.
    static let pacedRatePerSecond = 10_000.0
    static let port = 36_901
    /// The DIDs resolved over HTTP (client `i` asks for DID `i % didCount`).
    static let didCount = 64
    /// Generator threads (poll loops); `SOCAI_BENCH_LOAD_THREADS` overrides.
    static let loadThreads = Int(ProcessInfo.processInfo.environment["SOCAI_BENCH_LOAD_THREADS"] ?? "") ?? 1

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
        var dids = [did]
        var keyDIDs = [DIDKey.identifier(for: PublicKey(of: key))]
        try blocking {
            _ = try await node.submit(try DIDCreate(did: did, services: [service]).envelope(chainID: chainID, key: key, nonce: 1))
        }
        for index in 1..<didCount {
            let other = try SigningKey(seed: SHA256.hash(Array("did bench \(index)".utf8)))
            let otherDID = DID(initialKey: PublicKey(of: other))
            try blocking {
                _ = try await node.submit(
                    try DIDCreate(did: otherDID, services: [service]).envelope(chainID: chainID, key: other, nonce: 1))
            }
            dids.append(otherDID)
            keyDIDs.append(DIDKey.identifier(for: PublicKey(of: other)))
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

        // Over HTTP: the node's router on loopback; beside it, the same node behind a wrapper
        // that publishes no committed height, so every answer is resolved and rendered afresh.
        // The server's event-loop threads: NIO's default (one per core, as `socai node` runs it)
        // unless `SOCAI_BENCH_SERVER_THREADS` asks for another count, to compare.
        let serverThreads = Int(ProcessInfo.processInfo.environment["SOCAI_BENCH_SERVER_THREADS"] ?? "") ?? 0
        let serverGroup: EventLoopGroupProvider =
            serverThreads > 0 ? .shared(MultiThreadedEventLoopGroup(numberOfThreads: serverThreads)) : .singleton
        let application = Application(
            router: SocaiAPI.router(node: node),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)),
            eventLoopGroupProvider: serverGroup)
        let uncachedApplication = Application(
            router: SocaiAPI.router(node: UnpublishedHeightNode(node: node)),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port + 1)),
            eventLoopGroupProvider: serverGroup)
        let server = Task { try await application.runService() }
        let uncachedServer = Task { try await uncachedApplication.runService() }
        defer {
            server.cancel()
            uncachedServer.cancel()
        }
        for serverPort in [port, port + 1] {
            var ready = false
            for _ in 0..<200 where !ready {
                if let probe = LoopbackClient(port: serverPort) {
                    ready = probe.get("/health") != nil
                    probe.close()
                }
                if !ready { usleep(20_000) }
            }
            guard ready else {
                print("DID HTTP benchmark skipped: the server did not start on port \(serverPort)")
                return
            }
        }
        let load = LoopbackLoad(port: port, connections: concurrentClients, threads: loadThreads, seconds: httpSeconds)
        let label = "\(concurrentClients) clients, \(loadThreads) load thread(s)"
        // The same clients against `/health` first: the floor HTTP itself sets on this machine.
        if let floor = load.run(paths: ["/health"], accept: "application/json") {
            report(floor, "GET /health over HTTP, " + label + " (floor)", "requests/s")
        }
        let paths = dids.map { "/1.0/identifiers/" + $0.value }
        let (saturated, saturatedMachine) = MachineProbe.watching {
            load.run(paths: paths, accept: "application/did+ld+json")
        }
        guard let resolve = saturated else {
            print("DID HTTP benchmark: a resolution failed")
            return
        }
        report(resolve, "DID resolve over HTTP, " + label, "resolutions/s")
        report(resolve, against: saturatedMachine)
        // The same clients offering the target rate on a schedule: the latency a caller sees
        // when the node serves 10,000 resolutions a second, rather than at saturation.
        // A machine probe runs beside each paced run: see `MachineProbe` for why.
        var paced = LoopbackLoad(port: port, connections: concurrentClients, threads: loadThreads, seconds: pacedSeconds)
        paced.offeredRatePerSecond = pacedRatePerSecond
        let (pacedFloor, floorMachine) = MachineProbe.watching { paced.run(paths: ["/health"], accept: "application/json") }
        if let pacedFloor {
            report(pacedFloor, "GET /health, same clients and schedule (floor)", "requests/s")
            report(pacedFloor, against: floorMachine)
        }
        let (pacedResolve, resolveMachine) = MachineProbe.watching {
            paced.run(paths: paths, accept: "application/did+ld+json")
        }
        if let pacedResolve {
            report(
                pacedResolve,
                "DID resolve over HTTP, \(concurrentClients) clients offering \(Int(pacedRatePerSecond))/s",
                "resolutions/s")
            report(pacedResolve, against: resolveMachine)
        }
        let uncachedLoad = LoopbackLoad(
            port: port + 1, connections: concurrentClients, threads: loadThreads, seconds: httpSeconds)
        if let uncached = uncachedLoad.run(paths: paths, accept: "application/did+ld+json") {
            report(uncached, "DID resolve over HTTP, no answer cache", "resolutions/s")
        }
        let keyPaths = keyDIDs.map { "/1.0/identifiers/" + $0 }
        if let keys = load.run(paths: keyPaths, accept: "application/did+ld+json") {
            report(keys, "did:key resolve over HTTP, " + label, "resolutions/s")
        }
        if let uncachedKeys = uncachedLoad.run(paths: keyPaths, accept: "application/did+ld+json") {
            report(uncachedKeys, "did:key resolve over HTTP, no answer cache", "resolutions/s")
        }
    }

    static func report(_ measurement: LoopbackLoad.Measurement, _ name: String, _ unit: String) {
        SocaiBenchmarks.report(name, measurement.rate, unit)
        // Latencies with two decimals: the targets are a few milliseconds.
        let latencies = String(format: "%.2f / %.2f", measurement.p50Milliseconds, measurement.p99Milliseconds)
        print(SocaiBenchmarks.pad("  p50 / p99 latency", 44) + SocaiBenchmarks.pad(latencies, 20) + "ms")
        let cpu = String(format: "%.1f / %.1f", measurement.serverCPUMicroseconds, measurement.generatorCPUMicroseconds)
        print(SocaiBenchmarks.pad("  CPU per request, server / generator", 44) + SocaiBenchmarks.pad(cpu, 20) + "µs")
        fflush(nil)
    }

    /// Reports what the machine probe saw during a paced run, and the run's p99 over the
    /// slices that no slowdown of the machine touched.
    static func report(_ measurement: LoopbackLoad.Measurement, against probe: MachineProbe.Report) {
        let priority = probe.realTimePriority ? "real-time priority" : "ordinary priority"
        let runNanoseconds = probe.lastNanoseconds - probe.firstNanoseconds
        let seen = String(
            format: "median %.2f ms; %d slowdowns ≥%d×, %.0f ms of %.1f s", Double(probe.medianWorkNanoseconds) / 1e6,
            probe.episodes.count, Int(MachineProbe.slowdownFactor), Double(probe.episodeNanoseconds) / 1e6,
            Double(runNanoseconds) / 1e9)
        print(SocaiBenchmarks.pad("  machine probe (fixed work, \(priority))", 44) + seen)
        guard let first = measurement.samples.first, let last = measurement.samples.last else { return }
        var clear: [UInt64] = []
        var slices = 0
        var clearSlices = 0
        var index = 0
        var sliceStart = first.startNanoseconds
        while sliceStart <= last.startNanoseconds {
            let sliceEnd = sliceStart + sliceNanoseconds
            let touched = probe.overlaps(
                startNanoseconds: sliceStart - min(sliceStart, drainNanoseconds), endNanoseconds: sliceEnd)
            slices += 1
            if !touched { clearSlices += 1 }
            while index < measurement.samples.count && measurement.samples[index].startNanoseconds < sliceEnd {
                if !touched { clear.append(measurement.samples[index].latencyNanoseconds) }
                index += 1
            }
            sliceStart = sliceEnd
        }
        guard !clear.isEmpty else {
            print("  no slice of the run was clear of slowdowns")
            return
        }
        clear.sort()
        let p99 = LoopbackLoad.percentileMilliseconds(clear, 0.99)
        print(
            SocaiBenchmarks.pad("  p99 in \(sliceNanoseconds / 1_000_000) ms slices clear of slowdowns", 44)
                + SocaiBenchmarks.pad(String(format: "%.2f", p99), 20) + "ms (\(clearSlices) of \(slices) slices)")
        fflush(nil)
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

/// A blocking HTTP/1.1 keep-alive client for loopback: enough to send GETs and read
/// `Content-Length` bodies (the readiness probe; the load itself is `LoopbackLoad`).
final class LoopbackClient {
    static let responseBytesMax = 1 << 20
    private let socketDescriptor: Int32
    private var buffer: [UInt8] = []

    init?(port: Int) {
        guard let descriptor = connectLoopback(port: port) else { return nil }
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

/// A node that publishes no committed height: the resolver route then computes every answer
/// afresh, which is what the benchmark's "no answer cache" line measures.
struct UnpublishedHeightNode<Node: NodeService>: NodeService {
    let node: Node

    func submit(_ envelope: TransactionEnvelope) async throws -> Hash { try await node.submit(envelope) }
    func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction? {
        await node.waitForCommit(hash, timeoutMilliseconds: timeoutMilliseconds)
    }
    func committedTransaction(_ hash: Hash) async -> CommittedTransaction? { await node.committedTransaction(hash) }
    func status() async -> NodeStatus { await node.status() }
    func block(at height: UInt64) async throws -> (Block, CommitCertificate)? { try await node.block(at: height) }
    func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result {
        try await node.query(body)
    }
    func isReady() async -> Bool { await node.isReady() }
    func metricsText() async -> String { await node.metricsText() }
    func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet? {
        try await node.validatorSet(inForceAt: height)
    }
}
