import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Four real validator processes (release build) on loopback: committed transactions per
/// second at saturation, then commit latency p50/p99 at half that load.
enum NetworkBenchmarks {
    static let saturationTransactions = 3_000
    static let concurrentClients = 64
    static let latencySeconds = 8.0
    static let latencyClients = 32
    static let portBase = 36_611

    static func run(verifyRateAllCores: Double) throws {
        let binary = ProcessInfo.processInfo.environment["SOCAI_BINARY"] ?? "../.build/release/socai"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("network benchmark skipped: \(binary) not built (make bench builds it)")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-netbench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
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
            FileManager.default.createFile(atPath: log, contents: nil)
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
        let chainID = try ChainID("socai-bench")
        func transactions(_ count: Int, label: String) -> [TransactionEnvelope] {
            (0..<count).map { index in
                let key = try! SigningKey(seed: SHA256.hash(Array("\(label) \(index)".utf8)))
                return try! DIDCreate(did: DID(initialKey: PublicKey(of: key))).envelope(chainID: chainID, key: key, nonce: 1)
            }
        }

        // Saturation: submit everything from 64 clients, then wait for the last commit.
        let load = transactions(saturationTransactions, label: "saturation")
        let committedBefore = committedTotal(apis[0])
        let start = DispatchTime.now().uptimeNanoseconds
        runClients(concurrentClients) { client in
            for index in stride(from: client, to: load.count, by: concurrentClients) {
                _ = post(apis[index % 4], load[index], wait: false)
            }
        }
        while committedTotal(apis[0]) - committedBefore < Double(load.count) {
            guard Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < 120 else { break }
            usleep(50_000)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let committed = committedTotal(apis[0]) - committedBefore
        let throughput = committed / seconds
        SocaiBenchmarks.report("4 validators: committed transactions (saturated)", throughput, "transactions/s")
        let ceiling = verifyRateAllCores / 4
        SocaiBenchmarks.report("  target: half of cores × verify ÷ validators", ceiling / 2, "transactions/s")

        // Latency: a fixed number of clients, each submitting and waiting for the commit, one
        // transaction at a time, for `latencySeconds` (a closed loop whose offered load is set
        // by the client count; the achieved rate is printed beside the percentiles).
        final class Latencies: @unchecked Sendable {
            let lock = NSLock()
            var values: [Double] = []
            func add(_ value: Double) { lock.lock(); values.append(value); lock.unlock() }
        }
        let latencies = Latencies()
        let clients = latencyClients
        let latencyLoad = transactions(clients * 400, label: "latency")
        let latencyStart = DispatchTime.now().uptimeNanoseconds
        runClients(clients) { client in
            var index = client
            while index < latencyLoad.count,
                Double(DispatchTime.now().uptimeNanoseconds - latencyStart) / 1e9 < latencySeconds
            {
                let sent = DispatchTime.now().uptimeNanoseconds
                if post(apis[index % 4], latencyLoad[index], wait: true) {
                    latencies.add(Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6)
                }
                index += clients
            }
        }
        let latencyElapsed = Double(DispatchTime.now().uptimeNanoseconds - latencyStart) / 1e9
        let sorted = latencies.values.sorted()
        guard !sorted.isEmpty else { print("network benchmark: no latency samples"); return }
        func percentile(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
        SocaiBenchmarks.report(
            "  closed loop, \(clients) clients: committed", Double(sorted.count) / latencyElapsed, "transactions/s")
        SocaiBenchmarks.report("  commit latency p50", percentile(0.50), "ms")
        SocaiBenchmarks.report("  commit latency p99", percentile(0.99), "ms")
    }

    /// Runs `body` on `count` threads of its own: unlike `concurrentPerform`, which uses one
    /// thread per core, every client really is concurrent while it waits on the network.
    static func runClients(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for client in 0..<count {
            group.enter()
            let thread = Thread {
                body(client)
                group.leave()
            }
            thread.start()
        }
        group.wait()
    }

    static func request(_ url: String, method: String = "GET", body: Data? = nil, timeout: TimeInterval = 5) -> (Int, Data)? {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        final class Box: @unchecked Sendable { var answer: (Int, Data)? }
        let box = Box()
        let semaphore = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let response = response as? HTTPURLResponse { box.answer = (response.statusCode, data ?? Data()) }
            semaphore.signal()
        }.resume()
        semaphore.wait()
        return box.answer
    }

    static func height(_ api: String) -> Int {
        guard let (_, data) = request("\(api)/v1/status"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            return 0
        }
        return object["height"] as? Int ?? 0
    }

    static func committedTotal(_ api: String) -> Double {
        guard let (_, data) = request("\(api)/metrics") else { return 0 }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n")
        where line.hasPrefix("socai_transactions_committed_total ") {
            return Double(line.split(separator: " ").last ?? "0") ?? 0
        }
        return 0
    }

    static func post(_ api: String, _ envelope: TransactionEnvelope, wait: Bool) -> Bool {
        let body = try! JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(envelope.canonicalBytes)])
        guard
            let (status, _) = request(
                "\(api)/v1/tx\(wait ? "?wait=commit&timeoutMs=20000" : "")", method: "POST", body: body, timeout: 30)
        else {
            return false
        }
        return status == 200
    }
}
