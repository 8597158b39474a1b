import ArgumentParser
import Foundation
import SocaiCore
import SocaiDID
import SocaiNode
import SocaiState
import SocaiStore

/// What `socai did resolve` and `socai did show` share: which DID, which version, which node.
struct ResolveOptions: ParsableArguments {
    @Argument(help: "The DID (did:socai:… or did:key:z6Mk…).") var did: String
    @Option(help: "The node that answers did:socai questions.") var node = "http://127.0.0.1:26711"
    @Option(name: .customLong("version-id"), help: "Resolve this version (1 is the first).") var versionID: String?
    @Option(name: .customLong("version-time"), help: "Resolve the version in force at this RFC 3339 time.")
    var versionTime: String?
    @Flag(help: "Print the resolution result as JSON.") var json = false
    @Option(
        name: .customLong("node-home"),
        help: ArgumentHelp("Resolve did:socai from this node home's store instead of over HTTP.", valueName: "dir"))
    var nodeHome: String?

    /// Resolves locally for did:key, through the node's `/1.0/identifiers/` otherwise, asking
    /// for the full resolution result (and its proof when `withProof`).
    func resolve(withProof: Bool) throws -> DIDResolutionResult {
        let options = DIDResolutionOptions(versionId: versionID, versionTime: versionTime)
        if did.hasPrefix(DIDKeyMethod.prefix) || !did.hasPrefix(DID.prefix) {
            // did:key needs no ledger; malformed DIDs and other methods fail the same way offline.
            return DIDResolver.resolve(did, options: options, ledger: nil).result
        }
        if let nodeHome { return try resolveLocally(nodeHome: nodeHome, options: options, withProof: withProof) }
        let (status, body) = try NodeClient(node).exchange(
            "GET", Self.path(did: did, options: options, withProof: withProof),
            accept: DIDRepresentation.resolutionResult.rawValue)
        guard let result = try? JSONDecoder().decode(DIDResolutionResult.self, from: body) else {
            throw CommandFailure("the node's answer (HTTP \(status)) is not a DID resolution result")
        }
        return result
    }

    /// Resolves from a node home's store, as the node's HTTP route would.
    func resolveLocally(nodeHome: String, options: DIDResolutionOptions, withProof: Bool) throws -> DIDResolutionResult {
        let home = try NodeHome(path: expandPath(nodeHome))
        guard FileManager.default.fileExists(atPath: home.blockStorePath) else {
            throw CommandFailure("\(home.path) has no stored chain yet")
        }
        let store = try BlockStore(existingAt: home.blockStorePath)
        let queries = LedgerQueries(backend: store.state)
        let outcome = DIDResolver.resolve(did, options: options, ledger: queries, withProof: withProof)
        var result = outcome.result
        if result.didResolutionMetadata.error == nil {
            result.didResolutionMetadata.contentType = DIDRepresentation.documentJSONLD.rawValue
        }
        guard let entry = outcome.entry, store.height >= 1, let tip = try store.block(at: store.height) else {
            return result
        }
        var log = ValidatorChangeLog()
        for height in 1...store.height {
            guard let stored = try store.block(at: height) else { return result }
            log.append(header: stored.block.header, certificate: stored.commit)
        }
        let currentSet = try queries.proof(forKey: StateKey.validators).value.map {
            try ValidatorSetRecord(canonicalBytes: $0).set
        }
        // Each change with the set the store recorded for it, else the current set (as the
        // node's route does; `proofChanges` keeps only sets that hash to the change's header).
        var sets: [UInt64: ValidatorSet] = [:]
        for height in log.changeHeights(upTo: store.height).prefix(DIDResolutionProof.validatorChangesMax + 1) {
            sets[height] = try store.validatorSet(inForceAt: height)
        }
        guard
            let changes = log.proofChanges(upTo: store.height, setInForceAt: { sets[$0] ?? currentSet }),
            tip.block.header.stateRoot == entry.proof.root
        else { return result }
        result.didResolutionMetadata.proof = DIDResolutionProof(
            entry: entry, header: tip.block.header, certificate: tip.commit, validatorChanges: changes)
        return result
    }

    static func path(did: String, options: DIDResolutionOptions, withProof: Bool) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: ":-._~")
        var query: [String] = []
        if let versionId = options.versionId {
            query.append("versionId=" + (versionId.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""))
        }
        if let versionTime = options.versionTime {
            query.append("versionTime=" + (versionTime.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""))
        }
        if withProof { query.append("proof=true") }
        let encodedDID = did.addingPercentEncoding(withAllowedCharacters: allowed) ?? did
        return "/1.0/identifiers/" + encodedDID + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Prints the document and its metadata for people.
    static func printHuman(_ result: DIDResolutionResult) throws {
        if let error = result.didResolutionMetadata.error {
            throw CommandFailure("\(error.rawValue): \(result.didResolutionMetadata.errorMessage ?? "resolution failed")")
        }
        let metadata = result.didDocumentMetadata
        if let versionId = metadata.versionId { print("version:     \(versionId)") }
        if let created = metadata.created { print("created:     \(created)") }
        if let updated = metadata.updated { print("updated:     \(updated)") }
        if metadata.deactivated == true { print("deactivated: yes") }
        if let next = metadata.nextVersionId { print("next:        version \(next) at \(metadata.nextUpdate ?? "?")") }
        if let document = result.didDocument { try printJSON(document) }
    }
}

extension DIDCommand {
    /// `socai did show DID`: the document and its metadata.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a DID's document and metadata.")
        @OptionGroup var options: ResolveOptions

        func run() throws {
            try failing {
                let result = try options.resolve(withProof: false)
                if options.json { try printJSON(result) } else { try ResolveOptions.printHuman(result) }
            }
        }
    }

    /// `socai did resolve DID`: DID Resolution, offline for did:key, optionally proven.
    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a DID (did:key offline); --verify checks the node's proof against the genesis file.")
        @OptionGroup var options: ResolveOptions
        @Flag(help: "Ask for a proof and check it against the genesis file; say whether the answer is proven.")
        var verify = false
        @Option(help: "The genesis file --verify trusts.") var genesis = "Genesis/localnet.json"
        @Option(help: "Print the raw answer for this Accept type instead (did:socai only).") var accept: String?

        func run() throws {
            try failing {
                if let accept {
                    guard options.did.hasPrefix(DID.prefix) else { throw CommandFailure("--accept needs a did:socai DID") }
                    let (status, body) = try NodeClient(options.node).exchange(
                        "GET",
                        ResolveOptions.path(
                            did: options.did,
                            options: DIDResolutionOptions(versionId: options.versionID, versionTime: options.versionTime),
                            withProof: verify), accept: accept)
                    print(String(decoding: body, as: UTF8.self))
                    if status >= 400 { throw ExitCode(1) }
                    return
                }
                let result = try options.resolve(withProof: verify)
                var verdict: String?
                var proven = false
                if verify {
                    if options.did.hasPrefix(DIDKeyMethod.prefix) {
                        proven = result.didResolutionMetadata.error == nil
                        verdict = proven ? "proven: a did:key document follows from the identifier itself" : nil
                    } else {
                        let genesisValue: Genesis
                        do {
                            genesisValue = try Genesis(jsonBytes: Array(try Data(contentsOf: URL(fileURLWithPath: genesis))))
                        } catch { throw CommandFailure("cannot read the genesis file \(genesis): \(error)") }
                        do throws(DIDProofVerifier.Failure) {
                            let did = try? DID(options.did.split(separator: "?").first.map(String.init) ?? "")
                            guard let did else { throw DIDProofVerifier.Failure(.malformed, "not a did:socai DID") }
                            let height = try DIDProofVerifier.verify(result, did: did, genesis: genesisValue)
                            proven = true
                            let what = result.didResolutionMetadata.error == .notFound ? "proven absent" : "proven"
                            verdict = "\(what) at height \(height) against genesis \(genesisValue.chainID.value)"
                        } catch {
                            verdict = "not proven: \(error.description)"
                        }
                    }
                }
                if options.json {
                    struct Verified: Encodable {
                        let result: DIDResolutionResult
                        let proven: Bool
                        let verdict: String
                    }
                    if let verdict {
                        try printJSON(Verified(result: result, proven: proven, verdict: verdict))
                    } else {
                        try printJSON(result)
                    }
                } else {
                    try ResolveOptions.printHuman(result)
                    if let verdict { print(verdict) }
                }
                if result.didResolutionMetadata.error != nil || (verify && !proven) { throw ExitCode(1) }
            }
        }
    }
}
