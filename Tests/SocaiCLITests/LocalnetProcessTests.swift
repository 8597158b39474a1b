import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Four real validator processes on loopback: they commit transactions submitted through the
/// CLI, keep committing with one of them killed (SIGKILL), and the restarted one catches up
/// by block sync to identical block hashes and state roots.
@Suite(.serialized) struct LocalnetProcessTests {
    let environment = ["SOCAI_PASSPHRASE": "a long test passphrase"]

    final class NodeProcess {
        let home: String
        let log: String
        var process: Process?
        init(home: String, log: String) {
            self.home = home
            self.log = log
        }

        func start() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: socaiBinaryPath())
            process.arguments = ["node", "start", "--home", home]
            if !FileManager.default.fileExists(atPath: log) {
                #expect(FileManager.default.createFile(atPath: log, contents: nil), "cannot create \(log)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            self.process = process
        }

        func signal(_ number: Int32) {
            guard let process, process.isRunning else { return }
            kill(process.processIdentifier, number)
            process.waitUntilExit()
        }
    }

    /// GET a JSON object, or nil when the node does not answer within 10 s.
    func getJSON(_ url: String) -> [String: Any]? {
        let semaphore = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var data: Data? }
        let box = Box()
        var request = URLRequest(url: URL(string: url)!)
        // Generous: on a loaded machine eight validators share two cores with the test.
        request.timeoutInterval = 10
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if (response as? HTTPURLResponse)?.statusCode == 200 { box.data = data }
            semaphore.signal()
        }.resume()
        semaphore.wait()
        return box.data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    func height(_ api: String) -> Int? { getJSON("\(api)/v1/status")?["height"] as? Int }

    /// The block at `blockHeight` as `api` serves it, asked again for up to 30 s while the node
    /// does not answer or does not have it yet (a node one block behind answers 404).
    func block(_ api: String, at blockHeight: Int) -> [String: Any]? {
        var found: [String: Any]?
        _ = waitUntil(30) {
            found = getJSON("\(api)/v1/blocks/\(blockHeight)")
            return found != nil
        }
        return found
    }

    /// Polls until `condition` holds or `seconds` pass.
    func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(200_000)
        }
        return condition()
    }

    // The waits inside bound a real failure; the limit only has to leave them room on a
    // loaded machine, beside some thirty child processes.
    @Test(.timeLimit(.minutes(6)))
    func fourValidatorsCommitSurviveAKillAndCatchUp() throws {
        let directory = TemporaryDirectory()
        // Ports from the process id, so parallel runs on one machine do not collide, in
        // 10000–14999: below the ephemeral range (32768–60999) that outgoing connections and
        // the free-port finder draw from, and below PeerNetworkTests' 20000–32767 (a port of
        // node 4's stands free while it is down). BlockSyncTests takes 15000–19999.
        let base = 10_000 + Int(getpid() % 250) * 20
        let keys = directory.file("keys")
        var publicKeys: [String: String] = [:]
        for name in ["citizen", "ministry", "bank"] {
            let created = try runSocai(["key", "new", "--name", name, "--home", keys, "--json"], environment: environment)
            #expect(created.status == 0, "\(created.standardError)")
            let object = try JSONSerialization.jsonObject(with: Data(created.standardOutput.utf8)) as! [String: Any]
            publicKeys[name] = object["publicKey"] as? String
        }
        let initialized = try runSocai(
            [
                "genesis", "init", "--validators", "4", "--chain-id", "socai-e2e", "--out", "genesis.json", "--nodes", "nodes",
                "--peer-port-base", "\(base)", "--api-port-base", "\(base + 10)",
                "--organization", "Ministry=provider=\(publicKeys["ministry"]!)", "--organization",
                "Bank=consumer=\(publicKeys["bank"]!)",
            ], directory: directory.path)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let nodes = (1...4).map { NodeProcess(home: directory.file("nodes/node\($0)"), log: directory.file("node\($0).log")) }
        let apis = (0..<4).map { "http://127.0.0.1:\(base + 10 + $0)" }
        defer { for node in nodes { node.signal(SIGKILL) } }
        for node in nodes { try node.start() }

        func logs() -> String {
            nodes.map { (try? String(contentsOfFile: $0.log, encoding: .utf8))?.suffix(3_000).description ?? "" }.joined(
                separator: "\n---\n")
        }
        #expect(waitUntil(60) { (height(apis[0]) ?? 0) >= 2 }, "the network did not start committing:\n\(logs())")

        func submit(_ arguments: [String], key: String, nonce: Int, node: Int = 0) throws -> [String: Any] {
            let result = try runSocai(
                arguments + [
                    "--key", key, "--home", keys, "--nonce", "\(nonce)", "--chain-id", "socai-e2e", "--json", "--node",
                    apis[node],
                ],
                environment: environment)
            #expect(result.status == 0, "\(arguments.first ?? "") failed: \(result.standardError)")
            return (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]) ?? [:]
        }
        func did(_ name: String) throws -> String {
            let shown = try runSocai(["key", "show", "--name", name, "--home", keys, "--json"])
            return (try JSONSerialization.jsonObject(with: Data(shown.standardOutput.utf8)) as! [String: Any])["did"] as! String
        }
        #expect(try submit(["did", "create"], key: "citizen", nonce: 1)["code"] as? String == "ok")
        let grant = try submit(
            [
                "consent", "grant", "--consumer", try did("bank"), "--provider", try did("ministry"), "--purpose",
                "loan-assessment",
                "--data", "civil-status", "--until", "2999-01-01",
            ], key: "citizen", nonce: 2, node: 1)
        #expect(grant["code"] as? String == "ok")
        let consentID = try #require(grant["hash"] as? String)

        // Kill node 4 outright; three of four (30 of 40 power) keep committing.
        nodes[3].signal(SIGKILL)
        let heightAtKill = height(apis[0]) ?? 0
        let access = try submit(
            [
                "access", "record", "--consent", consentID, "--consumer", try did("bank"), "--data", "civil-status", "--purpose",
                "loan-assessment", "--delivered-hash", String(repeating: "ab", count: 32),
            ], key: "ministry", nonce: 1, node: 2)
        #expect(access["code"] as? String == "ok")
        // Every round needs all three survivors, and node 4's proposer turns each wait out a
        // propose timeout: allowed 90 s on a loaded machine.
        #expect(waitUntil(90) { (height(apis[0]) ?? 0) >= heightAtKill + 3 }, "no progress with one validator down:\n\(logs())")

        // Restart it: it must catch up by block sync.
        try nodes[3].start()
        let target = height(apis[0]) ?? 0
        #expect(waitUntil(60) { (height(apis[3]) ?? 0) >= target }, "node 4 did not catch up to \(target):\n\(logs())")
        // Caught up, it votes again: three validators commit without it, so only its precommit
        // in a later certificate that another node stored shows it rejoined consensus.
        let node4Key = try runSocai(["node", "info", "--home", nodes[3].home, "--field", "key"]).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var checkedUpTo = target
        let signedAgain = waitUntil(60) {
            let tip = height(apis[0]) ?? 0
            guard tip > checkedUpTo else { return false }
            defer { checkedUpTo = tip }
            return (checkedUpTo + 1...tip).contains { blockHeight in
                apis[0..<3].contains { api in
                    (block(api, at: blockHeight)?["certificateSigners"] as? [String])?.contains(node4Key) == true
                }
            }
        }
        #expect(signedAgain, "node 4 caught up to \(target) but no later certificate holds its precommit:\n\(logs())")

        // Every node has the same blocks and state roots.
        let common = apis.compactMap(height).min() ?? 0
        #expect(common >= target)
        for blockHeight in stride(from: 1, through: common, by: max(1, common / 20)) {
            let blocks = apis.map { block($0, at: blockHeight) }
            let hashes = Set(blocks.map { $0?["hash"] as? String ?? "missing" })
            let roots = Set(blocks.map { $0?["stateRoot"] as? String ?? "missing" })
            #expect(hashes.count == 1 && !hashes.contains("missing"), "height \(blockHeight): block hashes differ \(hashes)")
            #expect(roots.count == 1, "height \(blockHeight): state roots differ")
        }
        // The access is in the citizen's log on the node that was down.
        let citizenDID = try did("citizen")
        let log = try runSocai(["access", "log", "--subject", citizenDID, "--node-home", nodes[3].home, "--json"])
        // Reading the store of a running node is allowed (SQLite WAL readers); the entry is there.
        #expect(log.standardOutput.contains(consentID), "\(log.standardError)")
        // Over the API, the log comes with its proven count: one access, and the list is whole.
        let accessLog = getJSON("\(apis[0])/v1/access-log/\(citizenDID)")
        #expect((accessLog?["items"] as? [[String: Any]])?.count == 1)
        #expect(accessLog?["total"] as? Int == 1)

        try auditExport(genesis: directory.file("genesis.json"), apis: apis, directory: directory)

        // A graceful stop: every node exits on SIGTERM.
        for node in nodes { node.signal(SIGTERM) }
        for node in nodes { #expect(node.process?.isRunning == false) }
        // Each store verifies on its own.
        for node in nodes {
            let verified = try runSocai(["chain", "verify", "--home", node.home])
            #expect(verified.status == 0, "\(node.home): \(verified.standardOutput) \(verified.standardError)")
        }
        try auditStores(genesis: directory.file("genesis.json"), homes: nodes.map(\.home))
    }

    /// The auditor exports the chain from node 1's API, replays it from the genesis file alone,
    /// and ends at the state root every node reports for that height.
    func auditExport(genesis: String, apis: [String], directory: TemporaryDirectory) throws {
        let export = directory.file("audit.socai-export")
        let exported = try runSocai(["chain", "export", "--node", apis[0], "--genesis", genesis, "--out", export])
        #expect(exported.status == 0, "\(exported.standardError)")
        let replay = try runSocai(["audit", "replay", "--genesis", genesis, "--chain", export, "--json"])
        #expect(replay.status == 0, "\(replay.standardOutput) \(replay.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(replay.standardOutput.utf8)) as? [String: Any])
        let height = try #require(report["finalHeight"] as? Int)
        #expect(height >= 1)
        for api in apis {
            // The export ends at node 1's height when it began; another node may be a block behind.
            let root = block(api, at: height)?["stateRoot"] as? String
            #expect(root == report["finalStateRoot"] as? String, "\(api)")
        }
    }

    /// After the nodes stop, each node's own store replays from genesis, matching its recorded
    /// results, state roots and state; nodes stopped at the same height agree on the root.
    func auditStores(genesis: String, homes: [String]) throws {
        var rootsByHeight: [Int: Set<String>] = [:]
        for home in homes {
            let replay = try runSocai(["audit", "replay", "--genesis", genesis, "--home", home, "--json"])
            #expect(replay.status == 0, "\(home): \(replay.standardOutput) \(replay.standardError)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(replay.standardOutput.utf8)) as? [String: Any])
            let height = try #require(report["finalHeight"] as? Int)
            rootsByHeight[height, default: []].insert(try #require(report["finalStateRoot"] as? String))
        }
        for (height, roots) in rootsByHeight { #expect(roots.count == 1, "nodes at height \(height) disagree: \(roots)") }
    }
}
