import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiNode
import SocaiState
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Four real validator processes (release build) on loopback: committed transactions per
/// second at saturation, then commit latency p50/p99 at half that load.
enum NetworkBenchmarks {
    /// Transactions of the saturation phase; `SOCAI_BENCH_SATURATION` asks for more, so that
    /// a profiler attached to the nodes sees a longer saturated stretch.
    static let saturationTransactions =
        Int(ProcessInfo.processInfo.environment["SOCAI_BENCH_SATURATION"] ?? "").map { min(max($0, 1_000), 200_000) } ?? 6_000
    static let concurrentClients = 64
    /// Transactions per `POST /v1/txs` request in the batched saturation phase;
    /// `SOCAI_BENCH_BATCH` asks for another size (1 to the node's largest batch).
    static let batchTransactions =
        Int(ProcessInfo.processInfo.environment["SOCAI_BENCH_BATCH"] ?? "").map {
            min(max($0, 1), NodeSubmission.batchTransactionsMax)
        } ?? 64
    static let latencySeconds = 8.0
    /// Connections to each node in the latency phase: each carries one request at a time, and
    /// at half the target load a node answers a submission in well under a millisecond, so a
    /// few hold every due request that a busy node has not answered yet.
    static let latencyConnectionsPerNode = 8
    static let observerPollMilliseconds = 10.0
    static let portBase = 36_611

    static func run(verifyRateAllCores: Double) throws {
        let binary = ProcessInfo.processInfo.environment["SOCAI_BINARY"] ?? "../.build/release/socai"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("network benchmark skipped: \(binary) not built (make bench builds it)")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-netbench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let keep = ProcessInfo.processInfo.environment["SOCAI_BENCH_KEEP"] == "1"
        defer {
            if keep {
                print("network benchmark: node logs and data kept in \(directory)")
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        let initialize = Process()
        initialize.executableURL = URL(fileURLWithPath: binary)
        initialize.arguments = [
            "genesis", "init", "--validators", "4", "--chain-id", "socai-bench", "--out", "\(directory)/genesis.json", "--nodes",
            "\(directory)/nodes", "--peer-port-base", "\(portBase)", "--api-port-base", "\(portBase + 100)",
        ]
        initialize.standardOutput = FileHandle.nullDevice
        try initialize.run()
        initialize.waitUntilExit()
        var nodes: [Process] = []
        defer {
            for node in nodes where node.isRunning {
                kill(node.processIdentifier, SIGTERM)
                node.waitUntilExit()
            }
        }
        for index in 1...4 {
            let node = Process()
            node.executableURL = URL(fileURLWithPath: binary)
            node.arguments = ["node", "start", "--home", "\(directory)/nodes/node\(index)"]
            let log = "\(directory)/node\(index).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            node.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            node.standardOutput = FileHandle.nullDevice
            try node.run()
            nodes.append(node)
        }
        let apis = (0..<4).map { "http://127.0.0.1:\(portBase + 100 + $0)" }
        let started = Date()
        while height(apis[0]) < 2 {
            guard Date().timeIntervalSince(started) < 60 else { print("network benchmark: the network did not start"); return }
            usleep(200_000)
        }

        // Distinct signers, each creating its DID: every transaction is independent and valid.
        // Saturation twice: one transaction per request (`POST /v1/tx`), then batches
        // (`POST /v1/txs`), which spare the nodes most of the per-request HTTP work.
        // `SOCAI_BENCH_BATCHED_ONLY=1` skips the first, so that a profiler sees batches alone.
        let batchedOnly = ProcessInfo.processInfo.environment["SOCAI_BENCH_BATCHED_ONLY"] == "1"
        var singleThroughput: Double?
        if !batchedOnly {
            singleThroughput = try saturate(
                label: "saturation", batchTransactions: 1, verifyRateAllCores: verifyRateAllCores, apis: apis, nodes: nodes,
                directory: directory)
            guard singleThroughput != nil else { return }
        }
        guard
            let batchedThroughput = try saturate(
                label: "batched saturation", batchTransactions: batchTransactions, verifyRateAllCores: verifyRateAllCores,
                apis: apis, nodes: nodes, directory: directory)
        else { return }
        let throughput = singleThroughput ?? batchedThroughput
        let ceiling = verifyRateAllCores / 4

        // Latency, open loop, one transaction per request: first at half the throughput
        // measured that way (a load this network sustains), then at half the target load
        // (the issue's figure).
        if let fixed = Double(ProcessInfo.processInfo.environment["SOCAI_BENCH_LATENCY_RATE"] ?? ""), fixed >= 1 {
            // One fixed offered load instead, so that two builds can be compared at the same load.
            try openLoopLatency(
                offeredRate: min(fixed, 100_000), label: "the given load", apis: apis, nodes: nodes, directory: directory)
            return
        }
        try openLoopLatency(
            offeredRate: max(20, throughput / 2), label: "half the measured throughput", apis: apis, nodes: nodes,
            directory: directory)
        try openLoopLatency(
            offeredRate: max(20, ceiling / 4), label: "half the target", apis: apis, nodes: nodes, directory: directory)
    }

    /// Submits `saturationTransactions` new transactions from `concurrentClients` connections
    /// as fast as the nodes take them, `batchTransactions` per request (1: `POST /v1/tx`,
    /// more: `POST /v1/txs`), waits for every accepted one to commit, and reports the
    /// committed rate beside the target and the processor time per transaction. Nil when the
    /// submission failed.
    static func saturate(
        label: String, batchTransactions: Int, verifyRateAllCores: Double, apis: [String], nodes: [Process],
        directory: String
    ) throws -> Double? {
        precondition(
            batchTransactions >= 1 && batchTransactions <= NodeSubmission.batchTransactionsMax, "batch size out of range")
        let load = try transactions(saturationTransactions, label: label)
        // Each request's bytes are made before the clock starts: the load generator shares the
        // cores with the nodes, and what it spends encoding they lack.
        let requests =
            batchTransactions == 1
            ? load.map { submission($0) }
            : stride(from: 0, to: load.count, by: batchTransactions).map {
                batchSubmission(Array(load[$0..<min($0 + batchTransactions, load.count)]))
            }
        let saturationFirstHeight = height(apis[0]) + 1
        let committedBefore = committedTotal(apis[0])
        let cpuBefore = cpuSeconds(nodes)
        let clientCPUBefore = cpuSeconds(getpid())
        let start = DispatchTime.now().uptimeNanoseconds
        // A node refuses a transaction when its mempool is full; only the accepted ones can
        // commit, so the wait below is for those. Each connection goes to one node, spread
        // evenly, from one poll loop (`SubmissionLoad`).
        let count: ((Int, [UInt8]) -> (accepted: Int, refused: Int)?)? =
            batchTransactions == 1 ? nil : { countBatchAnswer(status: $0, body: $1) }
        guard
            let submitted = SubmissionLoad.run(
                ports: (0..<4).map { portBase + 100 + $0 }, requests: requests, connections: concurrentClients, count: count)
        else {
            print("network benchmark: a submission connection failed")
            return nil
        }
        let acceptedCount = submitted.accepted
        let submitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        SocaiBenchmarks.report(
            "  (submission alone: \(load.count) in \(String(format: "%.2f", submitSeconds)) s, \(load.count - acceptedCount) refused)",
            Double(load.count) / submitSeconds, "transactions/s")
        while committedTotal(apis[0]) - committedBefore < Double(acceptedCount) {
            guard Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < 120 else { break }
            usleep(50_000)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let committed = committedTotal(apis[0]) - committedBefore
        let throughput = committed / seconds
        let how = batchTransactions == 1 ? "one per request" : "batches of \(batchTransactions)"
        SocaiBenchmarks.report("4 validators: committed transactions (saturated, \(how))", throughput, "transactions/s")
        let ceiling = verifyRateAllCores / 4
        SocaiBenchmarks.report("  target: half of cores × verify ÷ validators", ceiling / 2, "transactions/s")
        // CPU time rather than wall time: on a shared machine the rate moves with the other
        // load, the processor time each committed transaction costs much less so.
        let cpuSpent = cpuSeconds(nodes) - cpuBefore
        let clientCPUSpent = cpuSeconds(getpid()) - clientCPUBefore
        reportHeights(log: "\(directory)/node1.log", from: saturationFirstHeight, to: height(apis[0]))
        if committed > 0 {
            let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
            SocaiBenchmarks.report(
                "  node CPU per committed transaction (4 nodes)", cpuSpent / committed * 1e6, "µs")
            SocaiBenchmarks.report(
                "  of which the floor: one verify on each node", 4 * cores / verifyRateAllCores * 1e6, "µs")
            // The load generator shares the cores with the nodes; what it takes, they lack.
            SocaiBenchmarks.report(
                "  load generator CPU per committed transaction", clientCPUSpent / committed * 1e6, "µs")
        }
        return throughput
    }

    /// User plus system processor time of all `nodes` so far (`cpuSeconds(_:)` of each).
    static func cpuSeconds(_ nodes: [Process]) -> Double { nodes.map { cpuSeconds($0.processIdentifier) }.reduce(0, +) }

    /// User plus system processor time of process `pid` so far, from /proc/PID/stat (fields
    /// 14 and 15, in clock ticks); 0 when it cannot be read.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return 0 }
        // The command name (field 2) may hold spaces; the fields after its ')' are plain.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `count` independent transactions: distinct signers, each creating its DID.
    static func transactions(_ count: Int, label: String) throws -> [TransactionEnvelope] {
        let chainID = try ChainID("socai-bench")
        return (0..<count).map { index in
            let key = try! SigningKey(seed: SHA256.hash(Array("\(label) \(index)".utf8)))
            return try! DIDCreate(did: DID(initialKey: PublicKey(of: key))).envelope(chainID: chainID, key: key, nonce: 1)
        }
    }

    /// Transactions are submitted at a fixed total rate whatever the network does, and an
    /// observer watches node1's new blocks; a transaction's latency is from the time its
    /// submission was due to the moment its block was seen committed (polled every
    /// `observerPollMilliseconds`, so figures err high by at most that).
    static func openLoopLatency(
        offeredRate: Double, label: String, apis: [String], nodes: [Process], directory: String
    ) throws {
        let latencyLoad = try transactions(Int(offeredRate * latencySeconds), label: "latency \(label)")
        let requests = latencyLoad.map { submission($0) }
        // Processor time per transaction here too: this phase runs on a larger state than
        // saturation did, and what a transaction costs there is what its latency waits on.
        let cpuBefore = cpuSeconds(nodes)
        let clock = BenchmarkClock()
        let sentAt = TimeTable(count: latencyLoad.count)
        let committedAt = TimeTable(count: latencyLoad.count)
        var indexByHash: [Hash: Int] = [:]
        for (index, envelope) in latencyLoad.enumerated() { indexByHash[envelope.hash] = index }
        let lookup = indexByHash
        let firstHeight = height(apis[0])
        let observerDone = DispatchSemaphore(value: 0)
        final class Flag: @unchecked Sendable { var stop = false }
        let stopObserver = Flag()
        Thread {
            let connection = HTTPConnection(port: UInt16(portBase + 100))
            var seen = firstHeight
            while !stopObserver.stop {
                usleep(UInt32(observerPollMilliseconds * 1000))
                guard let (_, data) = connection.send(method: "GET", path: "/v1/status", body: nil),
                    let status = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let tip = status["height"] as? Int, tip > seen
                else { continue }
                let now = clock.milliseconds()
                for blockHeight in (seen + 1)...tip {
                    guard let (_, body) = connection.send(method: "GET", path: "/v1/blocks/\(blockHeight)", body: nil),
                        let block = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                        let hashes = block["transactionHashes"] as? [String]
                    else { continue }
                    for text in hashes {
                        if let hash = try? Hash(hex: text), let index = lookup[hash] { committedAt.set(index, now) }
                    }
                }
                seen = tip
            }
            observerDone.signal()
        }.start()
        // Transaction `i` is due `i / offeredRate` seconds in and goes to node `i % 4`; its
        // latency runs from when it was due, so time it spent waiting for a free connection
        // to a busy node counts (`SubmissionLoad.runPaced`).
        guard
            let paced = SubmissionLoad.runPaced(
                ports: (0..<4).map { portBase + 100 + $0 }, requests: requests,
                connectionsPerPort: latencyConnectionsPerNode, offeredRatePerSecond: offeredRate)
        else {
            stopObserver.stop = true
            observerDone.wait()
            print("network benchmark: a latency connection failed at \(label)")
            return
        }
        for index in 0..<latencyLoad.count {
            sentAt.set(index, Double(paced.dueNanoseconds(index) - clock.startNanoseconds) / 1e6)
        }
        let drainStart = clock.milliseconds()
        while committedAt.filled < latencyLoad.count, clock.milliseconds() - drainStart < 15_000 { usleep(50_000) }
        stopObserver.stop = true
        observerDone.wait()
        var latencies: [Double] = []
        for index in 0..<latencyLoad.count {
            if let sent = sentAt.value(index), let committed = committedAt.value(index) { latencies.append(committed - sent) }
        }
        let sorted = latencies.sorted()
        guard !sorted.isEmpty else {
            print("network benchmark: no latency samples at \(label)")
            return
        }
        func percentile(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
        SocaiBenchmarks.report("  open loop at \(label): offered", offeredRate, "transactions/s")
        SocaiBenchmarks.report(
            "  committed \(sorted.count) of \(latencyLoad.count); commit latency p50", percentile(0.50), "ms")
        SocaiBenchmarks.report("  commit latency p99", percentile(0.99), "ms")
        SocaiBenchmarks.report(
            "  node CPU per committed transaction (4 nodes)", (cpuSeconds(nodes) - cpuBefore) / Double(sorted.count) * 1e6,
            "µs")
        reportHeights(log: "\(directory)/node1.log", from: firstHeight + 1, to: height(apis[0]))
    }

    /// Prints where node1's heights `first` to `last` spent their time (`HeightBreakdown`).
    static func reportHeights(log: String, from first: Int, to last: Int) {
        guard first <= last, let breakdown = HeightBreakdown.read(log: log, heights: first...last) else { return }
        print("  node1 per height: \(breakdown.summary)")
    }

    /// Milliseconds since the clock was made (monotonic).
    final class BenchmarkClock: Sendable {
        let startNanoseconds = DispatchTime.now().uptimeNanoseconds
        func milliseconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - startNanoseconds) / 1e6 }
    }

    /// One optional time per transaction, written by several threads.
    final class TimeTable: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Double?]
        private(set) var filled = 0
        init(count: Int) { values = [Double?](repeating: nil, count: count) }
        func set(_ index: Int, _ value: Double) {
            lock.lock()
            if values[index] == nil { filled += 1 }
            values[index] = value
            lock.unlock()
        }
        func value(_ index: Int) -> Double? {
            lock.lock()
            defer { lock.unlock() }
            return values[index]
        }
    }

    static func request(_ url: String, method: String = "GET", body: Data? = nil, timeout: TimeInterval = 5) -> (Int, Data)? {
        guard let parsed = URL(string: url), let port = parsed.port else { return nil }
        let connection = HTTPConnection(port: UInt16(port))
        defer { connection.close() }
        let path = parsed.path + (parsed.query.map { "?" + $0 } ?? "")
        return connection.send(method: method, path: path, body: body.map { Array($0) })
    }
    static func height(_ api: String) -> Int {
        guard let (_, data) = request("\(api)/v1/status"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            return 0
        }
        return object["height"] as? Int ?? 0
    }

    /// The node's committed-transactions counter; retries a few times, because a node busy
    /// with a large block may answer late, and a failed read must not look like zero.
    static func committedTotal(_ api: String) -> Double {
        for _ in 0..<5 {
            if let (_, data) = request("\(api)/metrics", timeout: 10) {
                for line in String(decoding: data, as: UTF8.self).split(separator: "\n")
                where line.hasPrefix("socai_transactions_committed_total ") {
                    if let value = Double(line.split(separator: " ").last ?? "") { return value }
                }
            }
            usleep(100_000)
        }
        preconditionFailure("network benchmark: \(api)/metrics did not answer")
    }

    /// The whole `POST /v1/tx` request that submits `envelope` (not waiting for its commit).
    static func submission(_ envelope: TransactionEnvelope) -> [UInt8] {
        HTTPConnection.request(
            method: "POST", path: "/v1/tx", body: Array("{\"transaction\":\"\(Hex.encode(envelope.canonicalBytes))\"}".utf8))
    }

    /// The whole `POST /v1/txs` request that submits `envelopes` in one batch.
    static func batchSubmission(_ envelopes: [TransactionEnvelope]) -> [UInt8] {
        let entries = envelopes.map { "\"\(Hex.encode($0.canonicalBytes))\"" }.joined(separator: ",")
        return HTTPConnection.request(method: "POST", path: "/v1/txs", body: Array("{\"transactions\":[\(entries)]}".utf8))
    }

    /// The transactions a `POST /v1/txs` answer accepted and refused, from its `accepted`
    /// count and its results; nil when it is not such an answer.
    static func countBatchAnswer(status: Int, body: [UInt8]) -> (accepted: Int, refused: Int)? {
        guard status == 200, let answer = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let accepted = answer["accepted"] as? Int, let results = answer["results"] as? [Any]
        else { return nil }
        return (accepted, results.count - accepted)
    }
}

/// A minimal HTTP/1.1 client over one kept-alive loopback TCP connection (POSIX sockets):
/// the load generator must cost far less than the nodes it measures, which Foundation's
/// URLSession on Linux (libcurl, one request at a time per handle) does not.
final class HTTPConnection {
    /// Largest response accepted.
    static let responseBytesMax = 16 * 1024 * 1024
    /// Most bytes one `recv` takes.
    static let receiveBytesMax = 65_536
    let port: UInt16
    private var socketDescriptor: Int32 = -1
    private var buffer: [UInt8] = []
    /// Where `recv` writes, allocated once per connection rather than per read.
    private var chunk = [UInt8](repeating: 0, count: HTTPConnection.receiveBytesMax)

    init(port: UInt16) { self.port = port }

    deinit { close() }

    func close() {
        if socketDescriptor >= 0 { _ = Glibc.close(socketDescriptor) }
        socketDescriptor = -1
        buffer.removeAll()
    }

    private func connect() -> Bool {
        guard let descriptor = connectLoopback(port: Int(port)) else { return false }
        // A node that stops answering must not hang the benchmark: reads give up after 30 s.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        socketDescriptor = descriptor
        return true
    }

    /// The bytes of one HTTP/1.1 request (a JSON body when `body` is given). The Host header
    /// names no port, so one request's bytes serve every node.
    static func request(method: String, path: String, body: [UInt8]?) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    /// Sends one request and reads its response; reconnects once if the connection was closed.
    func send(method: String, path: String, body: [UInt8]?) -> (Int, Data)? {
        send(request: Self.request(method: method, path: path, body: body))
    }

    /// Sends the bytes of one request (`request(method:path:body:)`) and reads its response;
    /// reconnects once if the connection was closed.
    func send(request: [UInt8]) -> (Int, Data)? {
        for _ in 0..<2 {
            if socketDescriptor < 0, !connect() { return nil }
            if let answer = exchange(request) { return answer }
            close()
        }
        return nil
    }

    private func exchange(_ request: [UInt8]) -> (Int, Data)? {
        var sent = 0
        while sent < request.count {
            let written = request[sent...].withUnsafeBytes { Glibc.send(socketDescriptor, $0.baseAddress, $0.count, 0) }
            guard written > 0 else { return nil }
            sent += written
        }
        // Read the head, then Content-Length bytes of body.
        var headEnd: Int?
        while headEnd == nil {
            headEnd = findHeadEnd()
            if headEnd == nil, !receiveMore() { return nil }
        }
        let headText = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        let lines = headText.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { return nil }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        guard length <= Self.responseBytesMax else { return nil }
        let bodyStart = headEnd! + 4
        while buffer.count < bodyStart + length {
            if !receiveMore() { return nil }
        }
        let responseBody = Data(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return (status, responseBody)
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    private func receiveMore() -> Bool {
        guard buffer.count < Self.responseBytesMax else { return false }
        let descriptor = socketDescriptor
        let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard received > 0 else { return false }
        precondition(received <= Self.receiveBytesMax)
        buffer += chunk[..<received]
        return true
    }
}
