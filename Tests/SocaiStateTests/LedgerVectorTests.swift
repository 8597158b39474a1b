import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import SocaiState
import Testing

/// Recomputes every `ledger_` vector of docs/FORMAT.md with the ledger application and
/// compares it byte for byte, so the "Ledger application" part cannot drift from the code.
/// It also checks the tables an auditor relies on: transaction kinds, result codes, ledger
/// limits and the data-category registry.
@Suite("docs/FORMAT.md ledger application vectors")
struct LedgerVectorTests {
    /// The prefix of every ledger vector name; FormatVectorTests leaves these to this suite.
    static let namePrefix = "ledger_"

    static let chainID = try! ChainID("socai-test")
    /// RFC 8032 §7.1 TEST 1: the citizen, and a governance key.
    static let key1 = try! SigningKey(
        seed: try! Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", count: 32))
    /// Seed 0x01 … 0x20: Clinic North (provider), the validator, a governance key.
    static let key2 = try! SigningKey(seed: (1...32).map { UInt8($0) })
    /// Seed 32 × 0x33: Insurer East (consumer).
    static let key3 = try! SigningKey(seed: [UInt8](repeating: 0x33, count: 32))

    static var public1: PublicKey { PublicKey(of: key1) }
    static var public2: PublicKey { PublicKey(of: key2) }
    static var public3: PublicKey { PublicKey(of: key3) }
    static var did1: DID { DID(initialKey: public1) }
    static var did2: DID { DID(initialKey: public2) }
    static var did3: DID { DID(initialKey: public3) }

    static let genesisTime: UInt64 = 1_700_000_000_000
    static let block1Time: UInt64 = 1_700_000_001_000
    static let block2Time: UInt64 = 1_700_000_002_000

    /// The ledger genesis of FORMAT.md (the ```json ledger-genesis block), members out of key
    /// order: format version 1, whose DID history also holds each current version.
    static var genesis: Genesis { genesis(formatVersion: 1) }

    /// The ledger genesis at `formatVersion` (§25.1 for version 2).
    static func genesis(formatVersion: UInt8) -> Genesis {
        try! Genesis(
            file: Genesis.File(
                formatVersion: formatVersion, chainID: chainID.value, genesisTimeMilliseconds: genesisTime,
                validators: [.init(name: "validator-two", publicKey: public2.hex, power: 10)],
                governance: .init(keys: [public2.hex, public1.hex], threshold: 2),
                organizations: [
                    .init(name: "Insurer East", publicKey: public3.hex, roles: [.consumer]),
                    .init(name: "Clinic North", publicKey: public2.hex, roles: [.provider]),
                ],
                accounts: [
                    .init(publicKey: public3.hex, balance: 500_000),
                    .init(publicKey: public1.hex, balance: 1_000),
                ]))
    }

    /// The citizen's consent for Insurer East to store health records and residence data held by Clinic North.
    static var grant: ConsentGrant {
        ConsentGrant(
            subject: did1, consumer: did3, provider: did2,
            purpose: try! Purpose(code: "research.public-health", text: "Study of regional vaccination coverage"),
            categories: [try! DataCategory("residence"), try! DataCategory("health.records")], mode: .store,
            validFromMilliseconds: genesisTime, validUntilMilliseconds: 1_731_536_000_000, accessesMax: 12, requestID: nil)
    }

    static var grantEnvelope: TransactionEnvelope { try! grant.envelope(chainID: chainID, key: key1, nonce: 1) }

    /// Clinic North records that it delivered health records to Insurer East under the consent.
    static var access: AccessRecord {
        AccessRecord(
            consentID: grantEnvelope.hash, provider: did2, consumer: did3, categories: [try! DataCategory("health.records")],
            purposeCode: "research.public-health", deliveredHash: Hash.sha256(Array("health-record-export".utf8)))
    }

    /// The citizen tries to pay 2000 credits while holding 1000.
    static var transfer: Transfer { Transfer(from: did1, to: did3, amount: 2_000) }

    /// Governance action number 1: make Insurer East's key a validator with power 10.
    static var governanceAction: GovernanceAction { .setValidatorPower(publicKey: public3, power: 10) }

    /// A block at `height` carrying `transactions`; the executor reads only the chain id, height, time and transactions.
    static func block(height: UInt64, time: UInt64, previous: Hash, _ transactions: [TransactionEnvelope]) -> Block {
        let header = BlockHeader(
            chainID: chainID, height: height, timeMilliseconds: time, previousBlockHash: previous, lastCommitHash: .zero,
            transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot([]), stateRoot: .zero,
            validatorsHash: genesis.validatorSet.hash, proposer: public2)
        return Block(header: header, lastCommit: nil, transactions: transactions, evidence: [])
    }

    /// Every entry of `backend`, by key.
    static func entries(_ backend: InMemoryStateBackend) throws -> [[UInt8]: [UInt8]] {
        var result: [[UInt8]: [UInt8]] = [:]
        for entry in try backend.entries(withPrefix: [], after: nil, limit: 10_000) { result[entry.key] = entry.value }
        return result
    }

    /// Records an issue unless `changes` sets exactly the keys of `expected` (name → key), and
    /// returns the vectors `prefix + name` → value. An expected nil value is a key that must be written empty.
    static func namedChanges(
        _ changes: [StateEntryChange], _ expected: [String: [UInt8]], prefix: String, empty: Set<String> = []
    ) -> [String: [UInt8]] {
        var byKey: [[UInt8]: [UInt8]?] = [:]
        for change in changes { byKey[change.key] = change.value }
        #expect(Set(byKey.keys) == Set(expected.values), "\(prefix): the changed keys are exactly the documented ones")
        var vectors: [String: [UInt8]] = [:]
        for (name, key) in expected {
            guard let value = byKey[key], let value else {
                Issue.record("\(prefix)\(name): key not written, or deleted")
                continue
            }
            if empty.contains(name) {
                #expect(value.isEmpty, "\(prefix)\(name) holds the empty value")
            } else {
                vectors[prefix + name] = value
            }
        }
        return vectors
    }

    /// Every ledger vector the library computes, by name.
    static func computedVectors() throws -> [String: [UInt8]] {
        var vectors: [String: [UInt8]] = [:]

        // Identifiers.
        vectors["ledger_key3_public_key"] = public3.bytes
        vectors["ledger_did_digest_key1"] = Hash.sha256(Array("socai/did/v1".utf8) + [0] + public1.bytes).bytes
        vectors["ledger_did_key1"] = Array(did1.value.utf8)
        vectors["ledger_did_key2"] = Array(did2.value.utf8)
        vectors["ledger_did_key3"] = Array(did3.value.utf8)

        // State keys and their tree positions.
        let id = grantEnvelope.hash
        vectors["ledger_state_key_tag"] = StateKey.treeKeyTag
        let stateKeys: [(String, [UInt8])] = [
            ("account_key1", StateKey.account(public1)),
            ("did_did1", StateKey.did(did1)),
            ("did_version_did1_1", StateKey.didVersion(did1, 1)),
            ("balance_did1", StateKey.balance(did1)),
            ("org_did2", StateKey.organization(did2)),
            ("governance", StateKey.governance),
            ("parameters", StateKey.parameters),
            ("validators", StateKey.validators),
            ("validator_updates_3", StateKey.validatorUpdates(3)),
            ("consent_id", StateKey.consent(id)),
            ("consent_request_id", StateKey.consentRequest(id)),
            ("consent_by_subject_did1_id", StateKey.consentBySubject(did1, id)),
            ("consent_by_consumer_did3_id", StateKey.consentByConsumer(did3, id)),
            ("access_did1_1", StateKey.access(did1, 1)),
            ("access_count_did1", StateKey.accessCount(did1)),
            ("offer_id", StateKey.offer(id)),
            ("order_id", StateKey.order(id)),
            ("escrow_total", StateKey.escrowTotal),
            ("tx_id", StateKey.transaction(id)),
        ]
        for (name, key) in stateKeys { vectors["ledger_state_key_" + name] = key }
        vectors["ledger_tree_key_balance_did1"] = StateKey.treeKey(StateKey.balance(did1)).bytes
        vectors["ledger_tree_value_balance_did1"] = StateKey.treeValue(AmountRecord(1_000).canonicalBytes).bytes

        // Genesis state.
        let genesis = Self.genesis
        vectors["ledger_genesis_hash"] = genesis.hash.bytes
        let backend = InMemoryStateBackend()
        let genesisChanges = try LedgerExecutor.genesisChanges(genesis, on: backend)
        backend.apply(genesisChanges)
        let genesisKeys: [String: [UInt8]] = [
            "governance": StateKey.governance, "parameters": StateKey.parameters, "validators": StateKey.validators,
            "escrow_total": StateKey.escrowTotal,
            "did_key1": StateKey.did(did1), "did_key2": StateKey.did(did2), "did_key3": StateKey.did(did3),
            "org_key2": StateKey.organization(did2), "org_key3": StateKey.organization(did3),
            "balance_key1": StateKey.balance(did1), "balance_key3": StateKey.balance(did3),
        ]
        let versionKeys = [(did1, "did_key1"), (did2, "did_key2"), (did3, "did_key3")]
        var genesisEntries = try entries(backend)
        #expect(genesisEntries.count == genesisKeys.count + versionKeys.count, "genesis writes exactly the documented entries")
        for (did, _) in versionKeys {
            // did-version/<did>/1 holds the same record as did/<did>.
            #expect(genesisEntries.removeValue(forKey: StateKey.didVersion(did, 1)) == genesisEntries[StateKey.did(did)])
        }
        #expect(Set(genesisEntries.keys) == Set(genesisKeys.values))
        for (name, key) in genesisKeys { vectors["ledger_genesis_value_" + name] = genesisEntries[key] }
        vectors["ledger_genesis_state_root"] = backend.stateRoot.bytes

        // The consent grant and block 1.
        let envelope = grantEnvelope
        vectors["ledger_consent_grant_payload"] = grant.canonicalBytes
        vectors["ledger_consent_grant_signing_bytes"] = envelope.signingBytes
        vectors["ledger_consent_grant_envelope"] = envelope.canonicalBytes
        vectors["ledger_consent_id"] = envelope.hash.bytes
        let executor = LedgerExecutor(genesis: genesis)
        let block1 = block(height: 1, time: block1Time, previous: genesis.hash, [envelope])
        let execution1 = try executor.execute(block1, on: backend)
        #expect(execution1.outcomes.map(\.code) == [.ok])
        #expect(execution1.validatorSet == genesis.validatorSet)
        vectors.merge(
            namedChanges(
                execution1.changes.values,
                [
                    "account_key1": StateKey.account(public1), "tx_grant": StateKey.transaction(id),
                    "consent": StateKey.consent(id), "by_subject": StateKey.consentBySubject(did1, id),
                    "by_consumer": StateKey.consentByConsumer(did3, id),
                ], prefix: "ledger_block1_value_", empty: ["by_subject", "by_consumer"])
        ) { first, _ in first }
        backend.apply(execution1.changes)
        vectors["ledger_block1_state_root"] = backend.stateRoot.bytes

        // Block 2: an access (ok), an overdraft (consumes only the nonce), a replay (leaves no trace).
        let accessEnvelope = try access.envelope(chainID: chainID, key: key2, nonce: 1)
        let transferEnvelope = try transfer.envelope(chainID: chainID, key: key1, nonce: 2)
        vectors["ledger_access_record_payload"] = access.canonicalBytes
        vectors["ledger_access_record_envelope"] = accessEnvelope.canonicalBytes
        vectors["ledger_transfer_payload"] = transfer.canonicalBytes
        vectors["ledger_transfer_envelope"] = transferEnvelope.canonicalBytes
        let block2 = block(height: 2, time: block2Time, previous: block1.hash, [accessEnvelope, transferEnvelope, envelope])
        let execution2 = try executor.execute(block2, on: backend)
        #expect(execution2.outcomes.map(\.code) == [.ok, .insufficientFunds, .badNonce])
        vectors.merge(
            namedChanges(
                execution2.changes.values,
                [
                    "account_key2": StateKey.account(public2), "tx_access": StateKey.transaction(accessEnvelope.hash),
                    "consent": StateKey.consent(id), "access_count_did1": StateKey.accessCount(did1),
                    "access_did1_1": StateKey.access(did1, 1), "account_key1": StateKey.account(public1),
                    "tx_transfer": StateKey.transaction(transferEnvelope.hash),
                ], prefix: "ledger_block2_value_")
        ) { first, _ in first }
        backend.apply(execution2.changes)
        vectors["ledger_block2_state_root"] = backend.stateRoot.bytes

        // Governance approval.
        let action = governanceAction
        let approval = Governance.approve(chainID: chainID, sequence: 1, action: action, key: key2)
        vectors["ledger_governance_action"] = action.canonicalBytes
        vectors["ledger_governance_approval_bytes"] = Governance.approvalBytes(chainID: chainID, sequence: 1, action: action)
        vectors["ledger_governance_approval_signature"] = approval.signature.bytes
        vectors["ledger_governance_payload"] =
            Governance(sequence: 1, action: action, approvals: [approval]).canonicalBytes
        vectors.merge(try formatVersion2Vectors()) { first, _ in first }
        return vectors
    }

    /// The citizen adds a service to its DID: on format version 2, version 1 moves into the
    /// history and `did/d` holds version 2 alone.
    static var didUpdate: DIDUpdate {
        DIDUpdate(
            did: did1,
            operations: [.addService(try! DIDService(id: "inbox", type: "DIDCommMessaging", endpoint: "https://a.example"))])
    }

    /// §25.7: the same genesis at format version 2, and a block with a DID update on it.
    static func formatVersion2Vectors() throws -> [String: [UInt8]] {
        var vectors: [String: [UInt8]] = [:]
        let genesis = Self.genesis(formatVersion: 2)
        vectors["ledger_v2_genesis_hash"] = genesis.hash.bytes
        let backend = InMemoryStateBackend()
        backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
        // The same entries as version 1's genesis, less the three history entries.
        let version1 = InMemoryStateBackend()
        version1.apply(try LedgerExecutor.genesisChanges(Self.genesis, on: version1))
        var expected = try entries(version1)
        for did in [did1, did2, did3] { #expect(expected.removeValue(forKey: StateKey.didVersion(did, 1)) != nil) }
        #expect(try entries(backend) == expected, "version 2's genesis state is version 1's without history entries")
        vectors["ledger_v2_genesis_state_root"] = backend.stateRoot.bytes

        let envelope = try didUpdate.envelope(chainID: chainID, key: key1, nonce: 1)
        vectors["ledger_v2_did_update_envelope"] = envelope.canonicalBytes
        let block1 = block(height: 1, time: block1Time, previous: genesis.hash, [envelope])
        let execution = try LedgerExecutor(genesis: genesis).execute(block1, on: backend)
        #expect(execution.outcomes.map(\.code) == [.ok])
        let changes = namedChanges(
            execution.changes.values,
            [
                "account_key1": StateKey.account(public1), "tx_update": StateKey.transaction(envelope.hash),
                "did_did1": StateKey.did(did1), "did_version_did1_1": StateKey.didVersion(did1, 1),
            ], prefix: "ledger_v2_block1_value_")
        // The superseded version is the genesis record, byte for byte.
        #expect(changes["ledger_v2_block1_value_did_version_did1_1"] == expected[StateKey.did(did1)])
        vectors.merge(changes.filter { $0.key != "ledger_v2_block1_value_did_version_did1_1" }) { first, _ in first }
        backend.apply(execution.changes)
        vectors["ledger_v2_block1_state_root"] = backend.stateRoot.bytes
        return vectors
    }

    @Test("FORMAT.md lists every ledger vector, and each equals the library's output")
    func everyVectorMatches() throws {
        let document = try formatVectors().filter { $0.key.hasPrefix(Self.namePrefix) }
        let computed = try Self.computedVectors()
        for name in Set(computed.keys).subtracting(document.keys).sorted() {
            // The computed value is printed so that a new vector can be added from the output.
            Issue.record("FORMAT.md has no vector named \(name); computed: \(name): \(Hex.encode(computed[name] ?? []))")
        }
        for name in Set(document.keys).subtracting(computed.keys).sorted() {
            Issue.record("FORMAT.md vector \(name) is not recomputed by this test")
        }
        for (name, bytes) in computed.sorted(by: { $0.key < $1.key }) {
            guard let expected = document[name] else { continue }
            #expect(expected == Hex.encode(bytes), "vector \(name)")
        }
    }

    @Test("the documented encodings decode, re-encode identically and verify")
    func documentEncodingsDecode() throws {
        let document = try formatVectors()
        func bytes(_ name: String) throws -> [UInt8] { try Hex.decode(try #require(document[name], "missing \(name)")) }

        let envelope = try TransactionEnvelope(canonicalBytes: try bytes("ledger_consent_grant_envelope"))
        #expect(envelope.hasValidSignature)
        #expect(envelope.kind == TransactionKind.consentGrant.rawValue)
        #expect(envelope.hash.bytes == (try bytes("ledger_consent_id")))
        let grant = try ConsentGrant(canonicalBytes: envelope.payload)
        #expect(grant == Self.grant)
        #expect(grant.canonicalBytes == (try bytes("ledger_consent_grant_payload")))

        let payload = try Governance(canonicalBytes: try bytes("ledger_governance_payload"))
        #expect(payload.approvals.count == 1)
        let approvalBytes = try bytes("ledger_governance_approval_bytes")
        #expect(payload.approvals[0].publicKey.isValidSignature(payload.approvals[0].signature, of: approvalBytes))
        #expect(approvalBytes.starts(with: Array("socai/sign/governance/v1".utf8) + [0]))

        for name in ["ledger_access_record_envelope", "ledger_transfer_envelope"] {
            #expect(try TransactionEnvelope(canonicalBytes: try bytes(name)).hasValidSignature, "\(name)")
        }
        let key = try bytes("ledger_state_key_balance_did1")
        #expect(Hash.sha256(try bytes("ledger_state_key_tag") + key).bytes == (try bytes("ledger_tree_key_balance_did1")))
        #expect(String(decoding: try bytes("ledger_did_key1"), as: UTF8.self) == Self.did1.value)
        let digest = try bytes("ledger_did_digest_key1")
        #expect(Self.did1.value == DID.prefix + Base58.encode(Array(digest.prefix(16))))
    }

    @Test("the ledger genesis JSON in FORMAT.md parses to the vector genesis, and the DIDs are spelled out")
    func documentGenesisAndDIDs() throws {
        let text = try FormatDocument.text()
        let blocks = FormatDocument.fencedBlocks(text, info: "json ledger-genesis")
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```json ledger-genesis block")
        #expect(try Genesis(jsonBytes: Array(blocks[0].utf8)) == Self.genesis)
        for did in [Self.did1, Self.did2, Self.did3] {
            #expect(text.contains("`\(did.value)`"), "FORMAT.md spells out \(did.value)")
        }
    }

    @Test("the transaction kind table in FORMAT.md is TransactionKind")
    func documentKinds() throws {
        let rows = tableRows(try FormatDocument.text(), firstHeader: "Kind")
        let documented = rows.map { "\($0[0]) \($0[1])" }
        let expected = TransactionKind.allCases.map { "\($0.rawValue) `\($0.name)`" }
        #expect(documented == expected)
    }

    @Test("the result code table in FORMAT.md is TransactionResultCode")
    func documentResultCodes() throws {
        let rows = tableRows(try FormatDocument.text(), firstHeader: "Result code")
        let documented = rows.map { "\($0[0]) \($0[1])" }
        let expected = TransactionResultCode.allCases.map { "\($0.rawValue) `\($0.name)`" }
        #expect(documented == expected)
    }

    @Test("the ledger limits table in FORMAT.md states LedgerLimits' numbers")
    func documentLimits() throws {
        let rows = tableRows(try FormatDocument.text(), firstHeader: "Ledger limit")
        let documented = Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0[1]) })
        let expected: [String: String] = [
            "`didBytesMax`": "\(LedgerLimits.didBytesMax)",
            "`fragmentBytesMax`": "\(LedgerLimits.fragmentBytesMax)",
            "`verificationMethodsMax`": "\(LedgerLimits.verificationMethodsMax)",
            "`servicesMax`": "\(LedgerLimits.servicesMax)",
            "`serviceTypeBytesMax`": "\(LedgerLimits.serviceTypeBytesMax)",
            "`serviceEndpointBytesMax`": "\(LedgerLimits.serviceEndpointBytesMax)",
            "`didOperationsMax`": "\(LedgerLimits.didOperationsMax)",
            "`purposeCodeBytesMax`": "\(LedgerLimits.purposeCodeBytesMax)",
            "`textBytesMax`": "\(LedgerLimits.textBytesMax)",
            "`categoriesMax`": "\(LedgerLimits.categoriesMax)",
            "`organizationNameBytesMax`": "\(LedgerLimits.organizationNameBytesMax)",
            "`offerSubjectsMax`": "\(LedgerLimits.offerSubjectsMax)",
            "`licensePurposesMax`": "\(LedgerLimits.licensePurposesMax)",
            "`governanceApprovalsMax`": "\(LedgerLimits.governanceApprovalsMax)",
            "`deliveryDeadlineBlocksMax`": "\(LedgerLimits.deliveryDeadlineBlocksMax)",
            "`amountMax`": "\(LedgerLimits.amountMax)",
        ]
        #expect(documented == expected)
    }

    @Test("the data-category registry in FORMAT.md is DataCategory.registry")
    func documentRegistry() throws {
        let blocks = FormatDocument.fencedBlocks(try FormatDocument.text(), info: "text data-categories")
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```text data-categories block")
        let names = blocks[0].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(names == DataCategory.registry.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }
}

/// The body rows of the one table of docs/FORMAT.md whose first header cell is
/// `firstHeader`; records an issue unless exactly one such table exists.
private func tableRows(_ text: String, firstHeader: String) -> [[String]] {
    let tables = FormatDocument.tables(text, firstHeader: firstHeader)
    guard tables.count == 1 else {
        Issue.record("FORMAT.md must hold exactly one table headed \(firstHeader), found \(tables.count)")
        return tables.first ?? []
    }
    return tables[0]
}
