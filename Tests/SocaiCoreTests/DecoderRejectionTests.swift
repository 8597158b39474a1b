import Foundation
import SocaiCore
import SocaiCrypto
import Testing

/// One canonical encoding and a decoder that must accept it exactly.
struct DecoderSample: Sendable, CustomStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// Decodes with the structure's decoder and returns the re-encoding.
    let decode: @Sendable ([UInt8]) throws(FormatError) -> [UInt8]
    /// Offset of the structure's version byte, or nil for unversioned structures.
    let versionOffset: Int?

    var description: String { name }

    static func of<Value: CanonicalCodable & Sendable>(
        _ name: String, _ value: Value, versionOffset: Int? = 0
    ) -> DecoderSample {
        DecoderSample(
            name: name, bytes: value.canonicalBytes,
            decode: { bytes throws(FormatError) in try Value(canonicalBytes: bytes).canonicalBytes },
            versionOffset: versionOffset)
    }

    static var all: [DecoderSample] {
        let nilVote = Fixture.vote(.precommit, blockID: nil, key: Fixture.key2)
        var withoutValidRound = Fixture.proposal
        withoutValidRound.validRound = nil
        withoutValidRound.signature = Signature(
            signing: withoutValidRound.signingBytes(chainID: Fixture.chainID), with: Fixture.key1)
        let emptyBlock = Block(
            header: BlockHeader(
                chainID: Fixture.chainID, height: 1, timeMilliseconds: 0, previousBlockHash: .zero,
                lastCommitHash: .zero, transactionsRoot: Block.transactionsRoot([]), evidenceRoot: Block.evidenceRoot([]),
                stateRoot: .zero, validatorsHash: .zero, proposer: Fixture.public1),
            lastCommit: nil, transactions: [], evidence: [])
        return [
            .of("transaction", Fixture.transaction),
            .of("header", Fixture.header1),
            .of("prevote", Fixture.prevote),
            .of("precommit", Fixture.precommit),
            .of("nil vote", nilVote),
            .of("proposal", Fixture.proposal),
            .of("proposal without valid round", withoutValidRound),
            .of("commit", Fixture.commit),
            .of("validator set", Fixture.validatorSet),
            .of("evidence", Fixture.evidence),
            .of("block 1", Fixture.block1),
            .of("block 2", Fixture.block2),
            .of("empty block", emptyBlock),
            .of("validator", Fixture.validatorSet.validators[0], versionOffset: nil),
            .of("commit signature", Fixture.commit.signatures[0], versionOffset: nil),
            .of("chain id", Fixture.chainID, versionOffset: nil),
            .of("hash", Fixture.header1.hash, versionOffset: nil),
            .of("public key", Fixture.public1, versionOffset: nil),
            .of("signature", Fixture.transaction.signature, versionOffset: nil),
        ]
    }
}

/// Runs a sample's decoder on `bytes` and asserts it fails with `code`.
func expectSampleRejects(
    _ sample: DecoderSample, _ bytes: [UInt8], _ code: FormatError.Code, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(FormatError) {
        _ = try sample.decode(bytes)
        Issue.record("\(sample.name) decoded, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(sample.name) \(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite("canonical decoders accept exactly one encoding")
struct DecoderRejectionTests {
    // Offsets within the fixture encodings (chain id "socai-test" is 10 bytes; see FORMAT.md).
    enum TxOffset {
        static let version = 0, chainLength = 1, chain = 2, signer = 12, nonce = 44, kind = 52
        static let payloadLength = 54, payload = 58, signature = 69, end = 133
    }
    enum HeaderOffset {
        static let version = 0, chainLength = 1, chain = 2, height = 12, time = 20, previous = 28
        static let proposer = 220, end = 252
    }
    enum VoteOffset {
        static let version = 0, type = 1, height = 2, round = 10, flag = 14, blockID = 15
        static let validator = 47, signature = 79, end = 143
    }
    enum ProposalOffset {
        static let version = 0, height = 1, round = 9, flag = 13, validRound = 14, blockID = 18
        static let proposer = 50, signature = 82, end = 146
    }
    enum CommitOffset {
        static let version = 0, height = 1, round = 9, blockID = 13, count = 45, entries = 47
        static let entryBytes = 96
    }
    enum SetOffset {
        static let version = 0, count = 1, entries = 3, entryBytes = 40
    }
    /// Block 1: header, flag, u32 count, u32 length + transaction, u16 evidence count.
    enum Block1Offset {
        static let flag = 252, transactionCount = 253, transactionLength = 257, transaction = 261
        static let evidenceCount = 394, end = 396
    }
    /// Block 2: header, flag, commit, u32 count 0, u16 count 1, evidence.
    enum Block2Offset {
        static let flag = 252, commit = 253, transactionCount = 492, evidenceCount = 496, evidence = 498, end = 753
    }

    @Test("the fixture offsets match the encodings")
    func offsetsMatchEncodings() {
        #expect(Fixture.transaction.canonicalBytes.count == TxOffset.end)
        #expect(Fixture.header1.canonicalBytes.count == HeaderOffset.end)
        #expect(Fixture.prevote.canonicalBytes.count == VoteOffset.end)
        #expect(Fixture.proposal.canonicalBytes.count == ProposalOffset.end)
        #expect(Fixture.commit.canonicalBytes.count == CommitOffset.entries + 2 * CommitOffset.entryBytes)
        #expect(Fixture.validatorSet.canonicalBytes.count == SetOffset.entries + 2 * SetOffset.entryBytes)
        #expect(Fixture.block1.canonicalBytes.count == Block1Offset.end)
        #expect(Fixture.block2.canonicalBytes.count == Block2Offset.end)
        #expect(
            Array(Fixture.block1.canonicalBytes[Block1Offset.transaction..<Block1Offset.evidenceCount])
                == Fixture.transaction.canonicalBytes)
        #expect(Array(Fixture.block2.canonicalBytes[Block2Offset.evidence...]) == Fixture.evidence.canonicalBytes)
    }

    // MARK: Round trips

    @Test("every structure round-trips through its canonical encoding", arguments: DecoderSample.all)
    func roundTrip(_ sample: DecoderSample) throws {
        let reencoded = try sample.decode(sample.bytes)
        #expect(reencoded == sample.bytes)
    }

    @Test("decoded values equal the values encoded")
    func decodedValuesAreEqual() throws {
        #expect(try TransactionEnvelope(canonicalBytes: Fixture.transaction.canonicalBytes) == Fixture.transaction)
        #expect(try BlockHeader(canonicalBytes: Fixture.header1.canonicalBytes) == Fixture.header1)
        #expect(try Vote(canonicalBytes: Fixture.prevote.canonicalBytes) == Fixture.prevote)
        #expect(try Vote(canonicalBytes: Fixture.precommit.canonicalBytes) == Fixture.precommit)
        #expect(try Proposal(canonicalBytes: Fixture.proposal.canonicalBytes) == Fixture.proposal)
        #expect(try CommitCertificate(canonicalBytes: Fixture.commit.canonicalBytes) == Fixture.commit)
        #expect(try ValidatorSet(canonicalBytes: Fixture.validatorSet.canonicalBytes) == Fixture.validatorSet)
        #expect(try DuplicateVoteEvidence(canonicalBytes: Fixture.evidence.canonicalBytes) == Fixture.evidence)
        #expect(try Block(canonicalBytes: Fixture.block1.canonicalBytes) == Fixture.block1)
        #expect(try Block(canonicalBytes: Fixture.block2.canonicalBytes) == Fixture.block2)
        let nilVote = Fixture.vote(.prevote, blockID: nil, key: Fixture.key1)
        let decoded = try Vote(canonicalBytes: nilVote.canonicalBytes)
        #expect(decoded.blockID == nil)
        #expect(nilVote.canonicalBytes.count == VoteOffset.end - 32)
    }

    @Test("genesis JSON round-trips and its canonical form ignores member order")
    func genesisRoundTrip() throws {
        let genesis = Fixture.genesis
        let reparsed = try Genesis(jsonBytes: genesis.jsonBytes())
        #expect(reparsed == genesis)
        #expect(reparsed.canonicalBytes == genesis.canonicalBytes)
        var reordered = Fixture.genesisFile
        reordered.validators.reverse()
        reordered.governance.keys.reverse()
        reordered.organizations.reverse()
        reordered.accounts.reverse()
        reordered.organizations[0].roles.reverse()
        #expect(try Genesis(file: reordered).hash == genesis.hash)
        // Sorted by key: key 2 (0x79...) before key 1 (0xd7...).
        #expect(genesis.validators.map(\.publicKey) == [Fixture.public2, Fixture.public1])
    }

    // MARK: Truncation and trailing bytes

    @Test("every proper prefix is rejected as truncated", arguments: DecoderSample.all)
    func everyPrefixIsTruncated(_ sample: DecoderSample) {
        for length in 0..<sample.bytes.count {
            expectSampleRejects(sample, Array(sample.bytes.prefix(length)), .truncated, "prefix of \(length) bytes")
        }
    }

    @Test("a trailing byte is rejected", arguments: DecoderSample.all)
    func trailingByte(_ sample: DecoderSample) {
        expectSampleRejects(sample, sample.bytes + [0x00], .trailingBytes)
        expectSampleRejects(sample, sample.bytes + [0xff, 0xff], .trailingBytes)
    }

    @Test("length prefixes and counts that run past the end are truncated")
    func lengthPrefixesPastTheEnd() {
        let tx = Fixture.transaction.canonicalBytes
        // Payload length one more than the payload and signature together.
        expectRejection(
            TransactionEnvelope.self, tx.replacing(at: TxOffset.payloadLength, with: bigEndian(UInt32(11 + 64 + 1))), .truncated)
        // Payload length 65536 (the maximum) with only 75 bytes left.
        expectRejection(
            TransactionEnvelope.self, tx.replacing(at: TxOffset.payloadLength, with: bigEndian(UInt32(65_536))), .truncated)
        // A chain id length prefix cut off right after it.
        expectRejection(ChainID.self, [10] + Array("socai".utf8), .truncated)

        let set = Fixture.validatorSet.canonicalBytes
        expectRejection(ValidatorSet.self, set.replacing(at: SetOffset.count, with: bigEndian(UInt16(3))), .truncated)
        expectRejection(ValidatorSet.self, set.replacing(at: SetOffset.count, with: bigEndian(UInt16(150))), .truncated)

        let commit = Fixture.commit.canonicalBytes
        expectRejection(CommitCertificate.self, commit.replacing(at: CommitOffset.count, with: bigEndian(UInt16(3))), .truncated)
        expectRejection(
            CommitCertificate.self, commit.replacing(at: CommitOffset.count, with: bigEndian(UInt16(150))), .truncated)

        let block1 = Fixture.block1.canonicalBytes
        // A transaction slot longer than what is left.
        expectRejection(
            Block.self, block1.replacing(at: Block1Offset.transactionLength, with: bigEndian(UInt32(136))), .truncated)
        // Two transactions announced, one present.
        expectRejection(Block.self, block1.replacing(at: Block1Offset.transactionCount, with: bigEndian(UInt32(2))), .truncated)
        let block2 = Fixture.block2.canonicalBytes
        expectRejection(Block.self, block2.replacing(at: Block2Offset.evidenceCount, with: bigEndian(UInt16(2))), .truncated)
        // One transaction announced where there is none: the next four bytes (evidence count
        // 00 01, evidence and vote versions 01 01) read as a slot length of 65793, one over the
        // limit, which is rejected before anything is read.
        expectRejection(Block.self, block2.replacing(at: Block2Offset.transactionCount, with: bigEndian(UInt32(1))), .overLimit)
    }

    @Test("bytes left inside a transaction slot of a block are trailing bytes")
    func trailingBytesInsideBlockSlot() {
        var block = Fixture.block1.canonicalBytes
        block.insert(0x00, at: Block1Offset.evidenceCount)
        block = block.replacing(at: Block1Offset.transactionLength, with: bigEndian(UInt32(TxOffset.end + 1)))
        expectRejection(Block.self, block, .trailingBytes)
        // The slot one byte short leaves the transaction truncated.
        let short = Fixture.block1.canonicalBytes.replacing(
            at: Block1Offset.transactionLength, with: bigEndian(UInt32(TxOffset.end - 1)))
        expectRejection(Block.self, short, .truncated)
    }

    // MARK: Versions

    @Test("unknown versions are rejected", arguments: DecoderSample.all.filter { $0.versionOffset != nil })
    func unknownVersion(_ sample: DecoderSample) {
        for version: UInt8 in [0, 2, 0xff] {
            expectSampleRejects(
                sample, sample.bytes.replacing(at: sample.versionOffset!, with: [version]), .unknownVersion, "version \(version)")
        }
    }

    @Test("unknown versions of nested structures are rejected")
    func unknownNestedVersions() {
        let evidence = Fixture.evidence.canonicalBytes
        expectRejection(DuplicateVoteEvidence.self, evidence.replacing(at: 1, with: [2]), .unknownVersion, "vote A")
        expectRejection(DuplicateVoteEvidence.self, evidence.replacing(at: 1 + 111, with: [2]), .unknownVersion, "vote B")
        let block1 = Fixture.block1.canonicalBytes
        expectRejection(Block.self, block1.replacing(at: Block1Offset.transaction, with: [2]), .unknownVersion, "transaction")
        let block2 = Fixture.block2.canonicalBytes
        expectRejection(Block.self, block2.replacing(at: Block2Offset.commit, with: [2]), .unknownVersion, "commit")
        expectRejection(Block.self, block2.replacing(at: Block2Offset.evidence, with: [0]), .unknownVersion, "evidence")
    }

    // MARK: Limits

    @Test("chain ids over 50 bytes are over the limit; 50 is accepted")
    func chainIDLimit() throws {
        let fifty = String(repeating: "a", count: 50)
        #expect(try ChainID(fifty).value == fifty)
        #expect(try ChainID(canonicalBytes: [50] + Array(fifty.utf8)).value == fifty)
        expectRejection(ChainID.self, [51] + [UInt8](repeating: UInt8(ascii: "a"), count: 51), .overLimit)
        expectRejection(ChainID.self, [255] + [UInt8](repeating: UInt8(ascii: "a"), count: 255), .overLimit)
        expectFormatError(.invalidValue, "51 characters") { () throws(FormatError) in _ = try ChainID(fifty + "a") }
        // Inside a transaction, a 51-byte chain id is rejected before it is read.
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(UInt8(51))
        writer.writeRaw([UInt8](repeating: UInt8(ascii: "a"), count: 51))
        expectRejection(TransactionEnvelope.self, writer.bytes, .overLimit)
    }

    @Test("payloads over 65536 bytes are over the limit; 65536 is accepted")
    func payloadLimit() throws {
        let tx = Fixture.transaction.canonicalBytes
        expectRejection(
            TransactionEnvelope.self, tx.replacing(at: TxOffset.payloadLength, with: bigEndian(UInt32(65_537))), .overLimit)
        expectRejection(
            TransactionEnvelope.self, tx.replacing(at: TxOffset.payloadLength, with: bigEndian(UInt32.max)), .overLimit)
        let maximal = try TransactionEnvelope.signed(
            chainID: Fixture.chainID, key: Fixture.key1, nonce: 2, kind: 1, payload: [UInt8](repeating: 7, count: 65_536))
        let decoded = try TransactionEnvelope(canonicalBytes: maximal.canonicalBytes)
        #expect(decoded == maximal)
        #expect(decoded.hasValidSignature)
        expectFormatError(.overLimit, "signing an oversize payload") { () throws(FormatError) in
            _ = try TransactionEnvelope.signed(
                chainID: Fixture.chainID, key: Fixture.key1, nonce: 2, kind: 1, payload: [UInt8](repeating: 7, count: 65_537))
        }
        // The longest possible envelope (50-byte chain id, full payload) fits a block's transaction slot.
        let longest = try TransactionEnvelope.signed(
            chainID: try ChainID(String(repeating: "z", count: 50)), key: Fixture.key1, nonce: 1, kind: 1,
            payload: [UInt8](repeating: 0, count: Limits.transactionPayloadBytesMax))
        #expect(longest.canonicalBytes.count == 65_698)
        #expect(longest.canonicalBytes.count <= Limits.transactionBytesMax)
    }

    @Test("rounds above 1000000 are over the limit")
    func roundLimit() throws {
        let over = bigEndian(UInt32(Limits.roundMax + 1))
        let max = bigEndian(UInt32(Limits.roundMax))
        let vote = Fixture.prevote.canonicalBytes
        expectRejection(Vote.self, vote.replacing(at: VoteOffset.round, with: over), .overLimit)
        #expect(try Vote(canonicalBytes: vote.replacing(at: VoteOffset.round, with: max)).round == Limits.roundMax)
        let proposal = Fixture.proposal.canonicalBytes
        expectRejection(Proposal.self, proposal.replacing(at: ProposalOffset.round, with: over), .overLimit)
        #expect(try Proposal(canonicalBytes: proposal.replacing(at: ProposalOffset.round, with: max)).round == Limits.roundMax)
        let commit = Fixture.commit.canonicalBytes
        expectRejection(CommitCertificate.self, commit.replacing(at: CommitOffset.round, with: over), .overLimit)
        #expect(
            try CommitCertificate(canonicalBytes: commit.replacing(at: CommitOffset.round, with: max)).round == Limits.roundMax)
    }

    @Test("more than 150 validators or precommits are over the limit")
    func memberCountLimits() throws {
        for count: UInt16 in [151, 0xffff] {
            expectRejection(ValidatorSet.self, [1] + bigEndian(count), .overLimit, "\(count) validators")
            expectRejection(
                CommitCertificate.self, Array(Fixture.commit.canonicalBytes.prefix(CommitOffset.count)) + bigEndian(count),
                .overLimit, "\(count) precommits")
        }
        let keys = (0..<151).map { index in Fixture.signingKey(Hex.encode([UInt8](repeating: UInt8(index), count: 32))) }
        expectFormatError(.overLimit, "151 validators") { () throws(FormatError) in
            _ = try ValidatorSet(keys.map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        }
        let full = try ValidatorSet(keys.dropLast().map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        #expect(try ValidatorSet(canonicalBytes: full.canonicalBytes) == full)
        #expect(full.validators.count == 150)
    }

    @Test("voting power above 2^50 is over the limit")
    func powerLimit() throws {
        let set = Fixture.validatorSet.canonicalBytes
        let powerOffset = SetOffset.entries + 32
        expectRejection(ValidatorSet.self, set.replacing(at: powerOffset, with: bigEndian(Limits.votingPowerMax + 1)), .overLimit)
        expectRejection(ValidatorSet.self, set.replacing(at: powerOffset, with: bigEndian(UInt64.max)), .overLimit)
        let maximal = try ValidatorSet(canonicalBytes: set.replacing(at: powerOffset, with: bigEndian(Limits.votingPowerMax)))
        #expect(maximal.totalPower == Limits.votingPowerMax + 10)
        expectRejection(ValidatorSet.self, set.replacing(at: powerOffset, with: bigEndian(UInt64(0))), .invalidValue)
    }

    @Test("block transaction and evidence counts and sizes are limited")
    func blockLimits() throws {
        let block1 = Fixture.block1.canonicalBytes
        expectRejection(
            Block.self, block1.replacing(at: Block1Offset.transactionCount, with: bigEndian(UInt32(10_001))), .overLimit)
        expectRejection(Block.self, block1.replacing(at: Block1Offset.transactionCount, with: bigEndian(UInt32.max)), .overLimit)
        expectRejection(
            Block.self, block1.replacing(at: Block1Offset.transactionCount, with: bigEndian(UInt32(10_000))), .truncated)
        expectRejection(
            Block.self,
            block1.replacing(at: Block1Offset.transactionLength, with: bigEndian(UInt32(Limits.transactionBytesMax + 1))),
            .overLimit)
        expectRejection(Block.self, block1.replacing(at: Block1Offset.evidenceCount, with: bigEndian(UInt16(101))), .overLimit)
        expectRejection(Block.self, block1.replacing(at: Block1Offset.evidenceCount, with: bigEndian(UInt16(100))), .truncated)
        // The whole block: more than 8 MiB is rejected before anything is read ...
        let oversize = block1 + [UInt8](repeating: 0, count: Limits.blockBytesMax + 1 - block1.count)
        expectRejection(Block.self, oversize, .overLimit)
        // ... while exactly 8 MiB is read, and here fails only on its padding.
        expectRejection(Block.self, Array(oversize.dropLast()), .trailingBytes)
    }

    // MARK: Non-canonical forms

    @Test("flag bytes other than 0 and 1 are non-canonical")
    func flagBytes() {
        for flag: UInt8 in [2, 0x80, 0xff] {
            expectRejection(
                Vote.self, Fixture.prevote.canonicalBytes.replacing(at: VoteOffset.flag, with: [flag]), .nonCanonical,
                "vote flag \(flag)")
            let nilVote = Fixture.vote(.prevote, blockID: nil, key: Fixture.key1).canonicalBytes
            expectRejection(
                Vote.self, nilVote.replacing(at: VoteOffset.flag, with: [flag]), .nonCanonical, "nil vote flag \(flag)")
            expectRejection(
                Proposal.self, Fixture.proposal.canonicalBytes.replacing(at: ProposalOffset.flag, with: [flag]), .nonCanonical,
                "proposal flag \(flag)")
            expectRejection(
                Block.self, Fixture.block1.canonicalBytes.replacing(at: Block1Offset.flag, with: [flag]), .nonCanonical,
                "block 1 flag \(flag)")
            expectRejection(
                Block.self, Fixture.block2.canonicalBytes.replacing(at: Block2Offset.flag, with: [flag]), .nonCanonical,
                "block 2 flag \(flag)")
        }
    }

    @Test("validator set members must be strictly ascending by key")
    func validatorSetOrder() throws {
        let set = Fixture.validatorSet.canonicalBytes
        let first = Array(set[SetOffset.entries..<(SetOffset.entries + SetOffset.entryBytes)])
        let second = Array(set[(SetOffset.entries + SetOffset.entryBytes)...])
        #expect(first.lexicographicallyPrecedes(second))
        expectRejection(ValidatorSet.self, Array(set.prefix(SetOffset.entries)) + second + first, .nonCanonical, "swapped")
        expectRejection(ValidatorSet.self, Array(set.prefix(SetOffset.entries)) + first + first, .nonCanonical, "duplicate")
        // The same key with a different power is still a duplicate.
        let samePublicKey = first.replacing(at: 32, with: bigEndian(UInt64(11)))
        expectRejection(
            ValidatorSet.self, Array(set.prefix(SetOffset.entries)) + first + samePublicKey, .nonCanonical, "same key")
        // The initializer sorts, and rejects duplicates as invalid values.
        let reversed = try ValidatorSet(Fixture.validatorSet.validators.reversed())
        #expect(reversed.canonicalBytes == set)
        expectFormatError(.invalidValue, "duplicate key") { () throws(FormatError) in
            _ = try ValidatorSet([
                Validator(publicKey: Fixture.public1, power: 1), Validator(publicKey: Fixture.public1, power: 2),
            ])
        }
        expectFormatError(.invalidValue, "empty set") { () throws(FormatError) in _ = try ValidatorSet([]) }
        expectFormatError(.invalidValue, "zero power") { () throws(FormatError) in
            _ = try ValidatorSet([Validator(publicKey: Fixture.public1, power: 0)])
        }
        expectRejection(ValidatorSet.self, [1, 0, 0], .invalidValue, "empty encoding")
    }

    @Test("commit precommits must be strictly ascending by key")
    func commitOrder() throws {
        let commit = Fixture.commit.canonicalBytes
        let head = Array(commit.prefix(CommitOffset.entries))
        let first = Array(commit[CommitOffset.entries..<(CommitOffset.entries + CommitOffset.entryBytes)])
        let second = Array(commit[(CommitOffset.entries + CommitOffset.entryBytes)...])
        #expect(first.lexicographicallyPrecedes(second))
        expectRejection(CommitCertificate.self, head + second + first, .nonCanonical, "swapped")
        expectRejection(CommitCertificate.self, head + first + first, .nonCanonical, "duplicate")
        expectRejection(
            CommitCertificate.self, Array(commit.prefix(CommitOffset.count)) + [0, 0], .invalidValue, "no precommits")
        let reversed = try CommitCertificate(precommits: [Fixture.precommit2, Fixture.precommit])
        #expect(reversed.canonicalBytes == commit)
        expectFormatError(.invalidValue, "duplicate precommit") { () throws(FormatError) in
            _ = try CommitCertificate(precommits: [Fixture.precommit, Fixture.precommit])
        }
        expectFormatError(.invalidValue, "a prevote in a commit") { () throws(FormatError) in
            _ = try CommitCertificate(precommits: [
                Fixture.precommit, Fixture.vote(.prevote, blockID: Fixture.header1.hash, key: Fixture.key2),
            ])
        }
        expectFormatError(.invalidValue, "a nil precommit") { () throws(FormatError) in
            _ = try CommitCertificate(precommits: [Fixture.vote(.precommit, blockID: nil, key: Fixture.key2)])
        }
        expectFormatError(.invalidValue, "no precommits") { () throws(FormatError) in _ = try CommitCertificate(precommits: []) }
    }

    @Test("evidence votes must conflict, lower block id first")
    func evidenceRules() throws {
        let nilVote = Fixture.vote(.prevote, blockID: nil, key: Fixture.key2)
        let blockVote = Fixture.vote(.prevote, blockID: Fixture.header1.hash, key: Fixture.key2)
        #expect(Fixture.evidence.canonicalBytes == [1] + nilVote.canonicalBytes + blockVote.canonicalBytes)
        expectRejection(
            DuplicateVoteEvidence.self, [1] + blockVote.canonicalBytes + nilVote.canonicalBytes, .nonCanonical, "reversed")
        expectRejection(
            DuplicateVoteEvidence.self, [1] + blockVote.canonicalBytes + blockVote.canonicalBytes, .nonCanonical, "same vote")
        expectRejection(
            DuplicateVoteEvidence.self, [1] + nilVote.canonicalBytes + nilVote.canonicalBytes, .nonCanonical, "two nil votes")
        let otherValidator = Fixture.vote(.prevote, blockID: Fixture.header1.hash, key: Fixture.key1)
        expectRejection(
            DuplicateVoteEvidence.self, [1] + nilVote.canonicalBytes + otherValidator.canonicalBytes, .invalidValue, "validators")
        let otherType = Fixture.vote(.precommit, blockID: Fixture.header1.hash, key: Fixture.key2)
        expectRejection(
            DuplicateVoteEvidence.self, [1] + nilVote.canonicalBytes + otherType.canonicalBytes, .invalidValue, "types")
        var otherRound = blockVote
        otherRound.round = 1
        expectRejection(
            DuplicateVoteEvidence.self, [1] + nilVote.canonicalBytes + otherRound.canonicalBytes, .invalidValue, "rounds")
        var otherHeight = blockVote
        otherHeight.height = 2
        expectRejection(
            DuplicateVoteEvidence.self, [1] + nilVote.canonicalBytes + otherHeight.canonicalBytes, .invalidValue, "heights")
        // Two block ids: the smaller one is vote A whatever order the votes are given in.
        let low = try Hash([UInt8](repeating: 0x01, count: 32))
        let high = try Hash([UInt8](repeating: 0x02, count: 32))
        let lowVote = Fixture.vote(.precommit, blockID: low, key: Fixture.key1)
        let highVote = Fixture.vote(.precommit, blockID: high, key: Fixture.key1)
        let evidence = try DuplicateVoteEvidence(highVote, lowVote)
        #expect(evidence.voteA == lowVote)
        #expect(evidence.canonicalBytes == (try DuplicateVoteEvidence(lowVote, highVote)).canonicalBytes)
        expectRejection(
            DuplicateVoteEvidence.self, [1] + highVote.canonicalBytes + lowVote.canonicalBytes, .nonCanonical, "hash order")
        expectFormatError(.nonCanonical, "same vote twice") { () throws(FormatError) in
            _ = try DuplicateVoteEvidence(lowVote, lowVote)
        }
    }

    // MARK: Invalid values

    @Test("vote types other than 1 and 2 are invalid")
    func voteTypes() throws {
        for type: UInt8 in [0, 3, 0xff] {
            expectRejection(
                Vote.self, Fixture.prevote.canonicalBytes.replacing(at: VoteOffset.type, with: [type]), .invalidValue,
                "type \(type)")
        }
        #expect(
            try Vote(canonicalBytes: Fixture.prevote.canonicalBytes.replacing(at: VoteOffset.type, with: [2])).type == .precommit)
    }

    @Test("height 0 is invalid everywhere")
    func heightZero() {
        let zero = bigEndian(UInt64(0))
        expectRejection(
            BlockHeader.self, Fixture.header1.canonicalBytes.replacing(at: HeaderOffset.height, with: zero), .invalidValue)
        expectRejection(Block.self, Fixture.block1.canonicalBytes.replacing(at: HeaderOffset.height, with: zero), .invalidValue)
        expectRejection(Vote.self, Fixture.prevote.canonicalBytes.replacing(at: VoteOffset.height, with: zero), .invalidValue)
        expectRejection(
            Proposal.self, Fixture.proposal.canonicalBytes.replacing(at: ProposalOffset.height, with: zero), .invalidValue)
        expectRejection(
            CommitCertificate.self, Fixture.commit.canonicalBytes.replacing(at: CommitOffset.height, with: zero), .invalidValue)
        expectFormatError(.invalidValue, "vote") { () throws(FormatError) in
            try Vote(type: .prevote, height: 0, round: 0, blockID: nil, validator: Fixture.public1).validate()
        }
        expectFormatError(.invalidValue, "commit") { () throws(FormatError) in
            _ = try CommitCertificate(height: 0, round: 0, blockID: .zero, signatures: Fixture.commit.signatures)
        }
    }

    @Test("transaction kind 0 is invalid")
    func kindZero() {
        expectRejection(
            TransactionEnvelope.self, Fixture.transaction.canonicalBytes.replacing(at: TxOffset.kind, with: [0, 0]), .invalidValue
        )
        expectRejection(
            Block.self, Fixture.block1.canonicalBytes.replacing(at: Block1Offset.transaction + TxOffset.kind, with: [0, 0]),
            .invalidValue)
        expectFormatError(.invalidValue, "signing kind 0") { () throws(FormatError) in
            _ = try TransactionEnvelope.signed(chainID: Fixture.chainID, key: Fixture.key1, nonce: 1, kind: 0, payload: [])
        }
    }

    @Test("proposal valid round must be below its round")
    func proposalValidRound() throws {
        let proposal = Fixture.proposal.canonicalBytes  // round 1, valid round 0
        expectRejection(
            Proposal.self, proposal.replacing(at: ProposalOffset.validRound, with: bigEndian(UInt32(1))), .invalidValue, "equal")
        expectRejection(
            Proposal.self, proposal.replacing(at: ProposalOffset.validRound, with: bigEndian(UInt32(2))), .invalidValue, "above")
        expectRejection(
            Proposal.self, proposal.replacing(at: ProposalOffset.round, with: bigEndian(UInt32(0))), .invalidValue, "round 0")
        #expect(
            try Proposal(canonicalBytes: proposal.replacing(at: ProposalOffset.round, with: bigEndian(UInt32(9)))).validRound == 0
        )
    }

    @Test("chain ids with characters outside a-z, 0-9 and '-' are invalid")
    func chainIDCharacters() throws {
        let bad: [[UInt8]] = [
            Array("Socai-test".utf8), Array("socai_test".utf8), Array("socai test".utf8), Array("socai.test".utf8),
            Array("-ocai-test".utf8), Array("socai-tes-".utf8), Array("socai-tes\u{00E9}".utf8).prefix(10).map { $0 },
            Array("socai-tes".utf8) + [0xff], Array("socai-tes".utf8) + [0x00], Array("socai-tes".utf8) + [0x80],
        ]
        for raw in bad {
            #expect(raw.count == 10)
            let description = String(decoding: raw, as: UTF8.self)
            expectRejection(ChainID.self, [10] + raw, .invalidValue, description)
            expectRejection(
                TransactionEnvelope.self, Fixture.transaction.canonicalBytes.replacing(at: TxOffset.chain, with: raw),
                .invalidValue, description)
            expectRejection(
                BlockHeader.self, Fixture.header1.canonicalBytes.replacing(at: HeaderOffset.chain, with: raw), .invalidValue,
                description)
        }
        expectRejection(ChainID.self, [0], .invalidValue, "empty")
        for text in ["", "-", "a-", "-a", "A", "caf\u{00E9}", "a b", "a\n"] {
            expectFormatError(.invalidValue, text) { () throws(FormatError) in _ = try ChainID(text) }
        }
        for text in ["a", "0", "a-b", "socai-test", "0-0", "a--b"] {
            #expect(try ChainID(text).value == text)
        }
    }

    @Test("fixed-size values have exactly their size")
    func fixedSizes() {
        expectFormatError(.invalidValue, "hash 31") { () throws(FormatError) in _ = try Hash([UInt8](repeating: 0, count: 31)) }
        expectFormatError(.invalidValue, "hash 33") { () throws(FormatError) in _ = try Hash([UInt8](repeating: 0, count: 33)) }
        expectFormatError(.invalidValue, "key 31") { () throws(FormatError) in _ = try PublicKey([UInt8](repeating: 0, count: 31))
        }
        expectFormatError(.invalidValue, "signature 63") { () throws(FormatError) in
            _ = try Signature([UInt8](repeating: 0, count: 63))
        }
        expectFormatError(.invalidValue, "uppercase hex") { () throws(FormatError) in
            _ = try PublicKey(hex: Fixture.key1PublicKeyHex.uppercased())
        }
        expectFormatError(.invalidValue, "short hex") { () throws(FormatError) in _ = try Hash(hex: "00") }
    }
}

@Suite("domain tags")
struct DomainTagTests {
    @Test("no tag is a prefix of another, every tag is distinct and ends in its only zero byte")
    func tagsArePrefixFree() {
        let tags = DomainTag.all.map(\.bytes)
        #expect(tags.count == 11)
        #expect(Set(tags).count == tags.count)
        for tag in tags {
            #expect(tag.last == 0)
            #expect(tag.dropLast().allSatisfy { $0 >= 0x21 && $0 <= 0x7e })
        }
        for (i, left) in tags.enumerated() {
            for (j, right) in tags.enumerated() where i != j {
                #expect(
                    !right.starts(with: left),
                    "\(String(decoding: left, as: UTF8.self)) is a prefix of \(String(decoding: right, as: UTF8.self))")
            }
        }
    }

    @Test("tagged hash is SHA-256 of tag then data")
    func taggedHash() {
        let data: [UInt8] = Array("abc".utf8)
        #expect(Hash.tagged(.hashHeader, data) == Hash.sha256(DomainTag.hashHeader.bytes + data))
        #expect(Hash.tagged(.hashHeader, data) != Hash.tagged(.hashCommit, data))
        #expect(Fixture.header1.hash == Hash.sha256(DomainTag.hashHeader.bytes + Fixture.header1.canonicalBytes))
        #expect(Fixture.transaction.hash == Hash.sha256(DomainTag.hashTransaction.bytes + Fixture.transaction.canonicalBytes))
        // FIPS 180-2 "abc".
        #expect(Hash.sha256(data).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

@Suite("genesis validation")
struct GenesisValidationTests {
    static func json(_ file: Genesis.File) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(file), as: UTF8.self)
    }

    /// Asserts `file` is rejected with `code` both as a value and as JSON text.
    func expectRejected(
        _ code: GenesisError.Code, _ file: Genesis.File, _ comment: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectGenesisError(code, file: file, comment, sourceLocation: sourceLocation)
        expectGenesisError(code, json: Self.json(file), comment, sourceLocation: sourceLocation)
    }

    var base: Genesis.File { Fixture.genesisFile }

    @Test("the fixture genesis is valid, with its validator set and parameters")
    func fixtureIsValid() throws {
        let genesis = try Genesis(jsonBytes: Array(Self.json(base).utf8))
        #expect(genesis == Fixture.genesis)
        #expect(genesis.validatorSet.totalPower == 20)
        #expect(genesis.governanceThreshold == 2)
        #expect(genesis.organizations.map(\.roles) == [[.provider, .consumer], [.provider]])
    }

    @Test("empty validator set")
    func emptyValidatorSet() {
        var file = base
        file.validators = []
        expectRejected(.emptyValidatorSet, file, "no validators")
    }

    @Test("duplicate keys in any list")
    func duplicateKeys() {
        var file = base
        file.validators[1].publicKey = file.validators[0].publicKey
        expectRejected(.duplicateKey, file, "validators")
        file = base
        file.governance.keys = [Fixture.public1.hex, Fixture.public1.hex]
        file.governance.threshold = 1
        expectRejected(.duplicateKey, file, "governance")
        file = base
        file.organizations[1].publicKey = file.organizations[0].publicKey
        expectRejected(.duplicateKey, file, "organizations")
        file = base
        file.accounts[1].publicKey = file.accounts[0].publicKey
        expectRejected(.duplicateKey, file, "accounts")
    }

    @Test("zero and over-limit voting power")
    func power() throws {
        var file = base
        file.validators[0].power = 0
        expectRejected(.zeroPower, file, "zero")
        file.validators[0].power = Limits.votingPowerMax + 1
        expectRejected(.overLimit, file, "2^50 + 1")
        file.validators[0].power = Limits.votingPowerMax
        #expect(try Genesis(file: file).validatorSet.totalPower == Limits.votingPowerMax + 10)
    }

    @Test("bad chain ids")
    func chainID() {
        for text in ["", "Socai", "socai_test", "-socai", "socai-", String(repeating: "a", count: 51)] {
            var file = base
            file.chainID = text
            expectRejected(.invalidChainID, file, text)
        }
    }

    @Test("bad governance thresholds and key counts")
    func threshold() throws {
        var file = base
        file.governance.threshold = 0
        expectRejected(.invalidThreshold, file, "0")
        file.governance.threshold = 3
        expectRejected(.invalidThreshold, file, "3 of 2")
        file.governance.threshold = 1
        #expect(try Genesis(file: file).governanceThreshold == 1)
        file.governance.keys = []
        expectRejected(.tooMany, file, "no governance keys")
        file.governance.keys = (0..<33).map { Hex.encode([UInt8](repeating: UInt8($0), count: 32)) }
        expectRejected(.tooMany, file, "33 governance keys")
    }

    @Test("malformed JSON")
    func malformed() {
        let good = Self.json(base)
        let cases: [(String, String)] = [
            ("empty", ""),
            ("not JSON", "genesis"),
            ("truncated", String(good.dropLast())),
            ("array", "[" + good + "]"),
            ("missing field", good.replacingOccurrences(of: "\"accounts\":", with: "\"acounts\":")),
            ("wrong type", good.replacingOccurrences(of: "\"threshold\":2", with: "\"threshold\":\"2\"")),
            ("negative power", good.replacingOccurrences(of: "\"power\":10", with: "\"power\":-10")),
            ("fractional threshold", good.replacingOccurrences(of: "\"threshold\":2", with: "\"threshold\":2.5")),
            ("unknown role", good.replacingOccurrences(of: "\"consumer\"", with: "\"auditor\"")),
            ("version 256", good.replacingOccurrences(of: "\"formatVersion\":1", with: "\"formatVersion\":256")),
            ("trailing garbage", good + "}"),
            ("unknown top-level member", good.replacingOccurrences(of: "\"accounts\":", with: "\"validator\":[],\"accounts\":")),
            ("unknown nested member", good.replacingOccurrences(of: "\"power\":10", with: "\"power\":10,\"weight\":1")),
            (
                "unknown parameters member",
                good.replacingOccurrences(of: "\"blockBytesMax\":", with: "\"blockSize\":1,\"blockBytesMax\":")
            ),
        ]
        for (label, json) in cases {
            #expect(json != good || label == "empty")
            expectGenesisError(.malformed, json: json, label)
        }
        let oversize = String(repeating: " ", count: Limits.genesisFileBytesMax + 1)
        expectGenesisError(.malformed, json: oversize, "over 16 MiB")
    }

    @Test("unknown format version")
    func unknownVersion() {
        var file = base
        file.formatVersion = 3
        expectRejected(.unknownVersion, file, "3")
        file.formatVersion = 0
        expectRejected(.unknownVersion, file, "0")
    }

    @Test("invalid keys, names, roles, balances and parameters")
    func otherFields() {
        var file = base
        file.validators[0].publicKey = Fixture.key1PublicKeyHex.uppercased()
        expectRejected(.invalidKey, file, "uppercase key")
        file = base
        file.accounts[0].publicKey = String(Fixture.key1PublicKeyHex.dropLast(2))
        expectRejected(.invalidKey, file, "short key")
        file = base
        file.governance.keys[0] = "zz" + String(Fixture.key1PublicKeyHex.dropFirst(2))
        expectRejected(.invalidKey, file, "non-hex key")

        for name in ["", String(repeating: "n", count: 65), "tab\tname", "line\nbreak", "nul\u{0}"] {
            file = base
            file.validators[0].name = name
            expectRejected(.invalidName, file, "validator name \(name.debugDescription)")
            file = base
            file.organizations[0].name = name
            expectRejected(.invalidName, file, "organization name \(name.debugDescription)")
        }

        file = base
        file.organizations[0].roles = []
        expectRejected(.invalidRole, file, "no roles")
        file.organizations[0].roles = [.provider, .provider]
        expectRejected(.invalidRole, file, "repeated role")

        file = base
        file.accounts[0].balance = Limits.creditsTotalMax
        expectRejected(.overLimit, file, "credits total above 2^62")
        file.accounts[0].balance = UInt64.max
        expectRejected(.overLimit, file, "overflowing credits")

        for (bytes, transactions) in [
            (UInt32(1023), UInt32(1)), (UInt32(8_388_609), UInt32(1)), (UInt32(1024), UInt32(0)), (UInt32(1024), UInt32(10_001)),
        ] {
            file = base
            file.parameters = .init(blockBytesMax: bytes, blockTransactionsMax: transactions)
            expectRejected(.invalidParameter, file, "parameters \(bytes) \(transactions)")
        }
    }

    @Test("too many validators")
    func tooManyValidators() {
        var file = base
        file.validators = (0..<151).map { index in
            .init(name: "v\(index)", publicKey: Hex.encode([UInt8](repeating: UInt8(index), count: 32)), power: 1)
        }
        expectRejected(.tooMany, file, "151 validators")
    }
}
