import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import Testing

/// Recomputes every test vector in docs/FORMAT.md with the library and compares it byte for
/// byte, so the specification cannot drift from the code.
@Suite("docs/FORMAT.md test vectors")
struct FormatVectorTests {
    /// Every vector the library computes, by the name FORMAT.md gives it.
    static func computedVectors() -> [String: [UInt8]] {
        var vectors: [String: [UInt8]] = [:]

        let tags: [(String, DomainTag)] = [
            ("tag_sign_transaction", .signTransaction), ("tag_sign_prevote", .signPrevote),
            ("tag_sign_precommit", .signPrecommit), ("tag_sign_proposal", .signProposal),
            ("tag_sign_message", .signMessage),
            ("tag_hash_transaction", .hashTransaction), ("tag_hash_header", .hashHeader),
            ("tag_hash_commit", .hashCommit), ("tag_hash_validators", .hashValidatorSet),
            ("tag_hash_genesis", .hashGenesis), ("tag_hash_evidence", .hashEvidence),
        ]
        for (name, tag) in tags { vectors[name] = tag.bytes }

        vectors["key1_seed"] = Fixture.key1.seedBytes()
        vectors["key1_public_key"] = Fixture.public1.bytes
        vectors["key1_signature_of_empty_message"] = Fixture.key1.signature(for: [])
        vectors["key2_seed"] = Fixture.key2.seedBytes()
        vectors["key2_public_key"] = Fixture.public2.bytes

        for count in [0, 1, 2, 3, 5] {
            vectors["merkle_root_\(count)"] = Merkle.root(leaves: Fixture.byteLeaves(count)).bytes
        }
        vectors["merkle_leaf_hash_of_byte_00"] = Merkle.leafHash([0x00]).bytes

        let message = SignedMessage.signingBytes(Array("hello socai".utf8))
        vectors["message_signing_bytes"] = message
        vectors["message_signature"] = Fixture.key1.signature(for: message)

        let transaction = Fixture.transaction
        vectors["tx_signing_bytes"] = transaction.signingBytes
        vectors["tx_signature"] = transaction.signature.bytes
        vectors["tx_encoding"] = transaction.canonicalBytes
        vectors["tx_hash"] = transaction.hash.bytes

        vectors["validator_set_encoding"] = Fixture.validatorSet.canonicalBytes
        vectors["validator_set_hash"] = Fixture.validatorSet.hash.bytes

        vectors["genesis_encoding"] = Fixture.genesis.canonicalBytes
        vectors["genesis_hash"] = Fixture.genesis.hash.bytes

        vectors["header_encoding"] = Fixture.header1.canonicalBytes
        vectors["header_hash"] = Fixture.header1.hash.bytes
        vectors["block1_encoding"] = Fixture.block1.canonicalBytes

        let chainID = Fixture.chainID
        vectors["prevote_signing_bytes"] = Fixture.prevote.signingBytes(chainID: chainID)
        vectors["prevote_encoding"] = Fixture.prevote.canonicalBytes
        vectors["prevote_signature"] = Fixture.prevote.signature.bytes
        vectors["precommit_signing_bytes"] = Fixture.precommit.signingBytes(chainID: chainID)
        vectors["precommit_encoding"] = Fixture.precommit.canonicalBytes
        vectors["precommit_signature"] = Fixture.precommit.signature.bytes
        vectors["key2_precommit_signature"] = Fixture.precommit2.signature.bytes

        vectors["proposal_signing_bytes"] = Fixture.proposal.signingBytes(chainID: chainID)
        vectors["proposal_encoding"] = Fixture.proposal.canonicalBytes
        vectors["proposal_signature"] = Fixture.proposal.signature.bytes

        vectors["commit_encoding"] = Fixture.commit.canonicalBytes
        vectors["commit_hash"] = Fixture.commit.hash.bytes

        vectors["evidence_encoding"] = Fixture.evidence.canonicalBytes
        vectors["evidence_hash"] = Fixture.evidence.hash.bytes

        vectors["block2_header_hash"] = Fixture.header2.hash.bytes
        vectors["block2_encoding"] = Fixture.block2.canonicalBytes
        return vectors
    }

    /// Names that must appear in FORMAT.md (the brief's minimum, plus everything computed).
    static let requiredNames: Set<String> = [
        "key1_seed", "key1_public_key", "key2_seed", "key2_public_key",
        "tx_signing_bytes", "tx_encoding", "tx_signature", "tx_hash",
        "header_encoding", "header_hash",
        "prevote_encoding", "prevote_signing_bytes", "prevote_signature",
        "precommit_encoding", "precommit_signing_bytes", "precommit_signature",
        "proposal_encoding", "proposal_signing_bytes", "proposal_signature",
        "commit_encoding", "commit_hash",
        "validator_set_encoding", "validator_set_hash",
        "evidence_encoding",
        "genesis_encoding", "genesis_hash",
        "merkle_root_0", "merkle_root_1", "merkle_root_2", "merkle_root_3", "merkle_root_5",
        "merkle_leaf_hash_of_byte_00",
    ]

    static func documentVectors() throws -> [String: String] {
        let parsed = FormatDocument.vectors(try FormatDocument.text())
        for problem in parsed.problems { Issue.record(Comment(rawValue: problem)) }
        return parsed.values
    }

    @Test("FORMAT.md lists every vector, and only vectors this test recomputes")
    func documentListsEveryVector() throws {
        let document = try Self.documentVectors()
        let computed = Self.computedVectors()
        #expect(document.count >= Self.requiredNames.count)
        for name in Self.requiredNames.union(computed.keys).sorted() where document[name] == nil {
            Issue.record("FORMAT.md has no vector named \(name)")
        }
        // State tree (smt_…) and ledger (ledger_…) vectors are recomputed by SocaiStateTests' vector suites.
        for name in document.keys.sorted() where computed[name] == nil && !name.hasPrefix("smt_") && !name.hasPrefix("ledger_") {
            Issue.record("FORMAT.md vector \(name) is not recomputed by this test")
        }
    }

    @Test("every vector in FORMAT.md equals the library's output")
    func everyVectorMatches() throws {
        let document = try Self.documentVectors()
        let computed = Self.computedVectors()
        #expect(!computed.isEmpty)
        for (name, bytes) in computed.sorted(by: { $0.key < $1.key }) {
            guard let expected = document[name] else { continue }  // reported by the test above
            #expect(expected == Hex.encode(bytes), "vector \(name)")
        }
    }

    @Test("RFC 8032 TEST 1 key pair and signature")
    func rfc8032Test1() throws {
        #expect(Fixture.public1.hex == Fixture.key1PublicKeyHex)
        #expect(Hex.encode(Fixture.key1.signature(for: [])) == Fixture.key1EmptySignatureHex)
        let document = try Self.documentVectors()
        #expect(document["key1_seed"] == Fixture.key1Seed)
        #expect(document["key1_public_key"] == Fixture.key1PublicKeyHex)
        #expect(document["key2_seed"] == "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
    }

    @Test("the encodings in FORMAT.md decode, re-encode identically and carry valid signatures")
    func documentEncodingsDecode() throws {
        let document = try Self.documentVectors()
        func bytes(_ name: String) throws -> [UInt8] { try Hex.decode(try #require(document[name], "missing \(name)")) }
        let chainID = Fixture.chainID

        let transaction = try TransactionEnvelope(canonicalBytes: try bytes("tx_encoding"))
        #expect(transaction == Fixture.transaction)
        #expect(transaction.canonicalBytes == (try bytes("tx_encoding")))
        #expect(transaction.hasValidSignature)
        #expect(transaction.signer.isValidSignature(transaction.signature, of: try bytes("tx_signing_bytes")))
        #expect(transaction.hash.bytes == (try bytes("tx_hash")))

        let header = try BlockHeader(canonicalBytes: try bytes("header_encoding"))
        #expect(header == Fixture.header1)
        #expect(header.previousBlockHash.bytes == (try bytes("genesis_hash")))
        #expect(header.validatorsHash.bytes == (try bytes("validator_set_hash")))
        #expect(header.lastCommitHash == .zero)

        for name in ["prevote", "precommit"] {
            let vote = try Vote(canonicalBytes: try bytes("\(name)_encoding"))
            #expect(vote.canonicalBytes == (try bytes("\(name)_encoding")))
            #expect(vote.signature.bytes == (try bytes("\(name)_signature")))
            #expect(vote.signingBytes(chainID: chainID) == (try bytes("\(name)_signing_bytes")))
            #expect(vote.hasValidSignature(chainID: chainID))
            #expect(vote.blockID?.bytes == (try bytes("header_hash")))
        }

        let proposal = try Proposal(canonicalBytes: try bytes("proposal_encoding"))
        #expect(proposal == Fixture.proposal)
        #expect(proposal.hasValidSignature(chainID: chainID))

        let validatorSet = try ValidatorSet(canonicalBytes: try bytes("validator_set_encoding"))
        #expect(validatorSet == Fixture.validatorSet)
        #expect(validatorSet.totalPower == 20)

        let commit = try CommitCertificate(canonicalBytes: try bytes("commit_encoding"))
        #expect(commit == Fixture.commit)
        try commit.verify(chainID: chainID, validatorSet: validatorSet)
        #expect(commit.signatures.map(\.signature.bytes).contains(try bytes("precommit_signature")))
        #expect(commit.signatures.map(\.signature.bytes).contains(try bytes("key2_precommit_signature")))

        let evidence = try DuplicateVoteEvidence(canonicalBytes: try bytes("evidence_encoding"))
        #expect(evidence == Fixture.evidence)
        #expect(evidence.voteA.blockID == nil)
        try evidence.verify(chainID: chainID, validatorSet: validatorSet)

        let block1 = try Block(canonicalBytes: try bytes("block1_encoding"))
        #expect(block1 == Fixture.block1)
        try block1.validateBasic()
        #expect(block1.hash.bytes == (try bytes("header_hash")))

        let block2 = try Block(canonicalBytes: try bytes("block2_encoding"))
        #expect(block2 == Fixture.block2)
        try block2.validateBasic()
        #expect(block2.hash.bytes == (try bytes("block2_header_hash")))
        #expect(block2.header.previousBlockHash == block1.hash)
        try block2.lastCommit?.verify(chainID: chainID, validatorSet: validatorSet)
    }

    @Test("the genesis JSON in FORMAT.md parses to the genesis vector")
    func documentGenesisJSON() throws {
        let text = try FormatDocument.text()
        let blocks = FormatDocument.fencedBlocks(text, info: "json genesis-vector")
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```json genesis-vector block")
        let genesis = try Genesis(jsonBytes: Array(blocks[0].utf8))
        #expect(genesis == Fixture.genesis)
        let document = try Self.documentVectors()
        #expect(document["genesis_hash"] == genesis.hash.hex)
        #expect(document["genesis_encoding"] == Hex.encode(genesis.canonicalBytes))
        #expect(genesis.validatorSet == Fixture.validatorSet)
    }

    @Test("the did:key identifiers in FORMAT.md")
    func documentDIDKeys() throws {
        let blocks = FormatDocument.fencedBlocks(try FormatDocument.text(), info: "did-key")
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```did-key block")
        let lines = blocks[0].split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "key1_public_key: \(DIDKey.identifier(for: Fixture.public1))",
                "key2_public_key: \(DIDKey.identifier(for: Fixture.public2))",
            ])
        #expect(DIDKey.identifier(for: Fixture.public1).hasPrefix("did:key:z6Mk"))
    }

    @Test("the limits table in FORMAT.md states Limits.swift's numbers")
    func documentLimits() throws {
        let text = try FormatDocument.text()
        let expected: [(String, String)] = [
            ("chainIDBytesMax", "\(Limits.chainIDBytesMax)"),
            ("transactionPayloadBytesMax", "\(Limits.transactionPayloadBytesMax)"),
            ("transactionBytesMax", "\(Limits.transactionBytesMax)"),
            ("blockTransactionsMax", "\(Limits.blockTransactionsMax)"),
            ("blockBytesMax", "\(Limits.blockBytesMax)"),
            ("blockEvidenceMax", "\(Limits.blockEvidenceMax)"),
            ("validatorsMax", "\(Limits.validatorsMax)"),
            ("votingPowerMax", "\(Limits.votingPowerMax)"),
            ("roundMax", "\(Limits.roundMax)"),
            ("nameBytesMax", "\(Limits.nameBytesMax)"),
            ("governanceKeysMax", "\(Limits.governanceKeysMax)"),
            ("genesisOrganizationsMax", "\(Limits.genesisOrganizationsMax)"),
            ("genesisAccountsMax", "\(Limits.genesisAccountsMax)"),
            ("creditsTotalMax", "\(Limits.creditsTotalMax)"),
            ("genesisFileBytesMax", "\(Limits.genesisFileBytesMax)"),
            ("SignedMessage.messageBytesMax", "\(SignedMessage.messageBytesMax)"),
        ]
        // Each limit has a table row `| `name` | number | ...`.
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `") }
        for (name, value) in expected {
            let row = rows.first { $0.hasPrefix("| `\(name)` |") }
            guard let row else {
                Issue.record("FORMAT.md has no limits row for \(name)")
                continue
            }
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(
                cells.count >= 2 && cells[1] == value,
                "limit \(name): FORMAT.md says \(cells.count >= 2 ? cells[1] : "?"), code says \(value)")
        }
    }

    @Test("the domain tags in FORMAT.md are the library's tags")
    func documentTagsAreAll() throws {
        let document = try Self.documentVectors()
        let documented = Set(document.filter { $0.key.hasPrefix("tag_") }.values)
        #expect(documented == Set(DomainTag.all.map { Hex.encode($0.bytes) }))
        #expect(documented.count == DomainTag.all.count)
    }
}
