import Foundation
import SocaiCore
import SocaiCrypto
import Testing

/// The fixed keys and structures the format tests and the docs/FORMAT.md vectors are built
/// from. Every value here is deterministic (Ed25519 signing is deterministic), so the
/// vectors in FORMAT.md can be recomputed and compared byte for byte.
enum Fixture {
    /// RFC 8032 §7.1 TEST 1 seed.
    static let key1Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    /// RFC 8032 §7.1 TEST 1 public key.
    static let key1PublicKeyHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    /// RFC 8032 §7.1 TEST 1 signature of the empty message.
    static let key1EmptySignatureHex =
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    /// The bytes 0x01, 0x02, ..., 0x20.
    static let key2Seed = Hex.encode((1...32).map { UInt8($0) })
    /// A third key, never a validator in the fixtures: 32 bytes of 0x33.
    static let key3Seed = String(repeating: "33", count: 32)

    static let key1 = signingKey(key1Seed)
    static let key2 = signingKey(key2Seed)
    static let key3 = signingKey(key3Seed)

    static var public1: PublicKey { PublicKey(of: key1) }
    static var public2: PublicKey { PublicKey(of: key2) }
    static var public3: PublicKey { PublicKey(of: key3) }

    static let chainIDText = "socai-test"
    static var chainID: ChainID { try! ChainID(chainIDText) }

    static let genesisTime: UInt64 = 1_700_000_000_000
    static let block1Time: UInt64 = 1_700_000_001_000
    static let block2Time: UInt64 = 1_700_000_002_000
    static let block1StateRoot = try! Hash([UInt8](repeating: 0x11, count: 32))
    static let block2StateRoot = try! Hash([UInt8](repeating: 0x22, count: 32))

    static func signingKey(_ seedHex: String) -> SigningKey {
        try! SigningKey(seed: try! Hex.decode(seedHex, count: 32))
    }

    /// The transaction vector: key 1 signs nonce 1, kind 1, payload "hello socai".
    static var transaction: TransactionEnvelope {
        try! TransactionEnvelope.signed(
            chainID: chainID, key: key1, nonce: 1, kind: 1, payload: Array("hello socai".utf8))
    }

    /// Key 1 and key 2, power 10 each.
    static var validatorSet: ValidatorSet {
        try! ValidatorSet([Validator(publicKey: public1, power: 10), Validator(publicKey: public2, power: 10)])
    }

    /// The genesis vector, members deliberately listed out of key order. Format version 1,
    /// as FORMAT.md §16 spells it: the encodings of §1–§15 do not depend on the version.
    static var genesisFile: Genesis.File {
        Genesis.File(
            formatVersion: 1, chainID: chainIDText, genesisTimeMilliseconds: genesisTime,
            validators: [
                .init(name: "validator-one", publicKey: public1.hex, power: 10),
                .init(name: "validator-two", publicKey: public2.hex, power: 10),
            ],
            governance: .init(keys: [public1.hex, public2.hex], threshold: 2),
            organizations: [
                .init(name: "Labor S\u{00FC}d", publicKey: public1.hex, roles: [.provider]),
                .init(name: "Clinic North", publicKey: public2.hex, roles: [.consumer, .provider]),
            ],
            accounts: [
                .init(publicKey: public1.hex, balance: 1_000_000),
                .init(publicKey: public2.hex, balance: 5),
            ],
            parameters: .init(blockBytesMax: 8_388_608, blockTransactionsMax: 10_000))
    }

    static var genesis: Genesis { try! Genesis(file: genesisFile) }

    /// Block 1: the transaction, no last commit, no evidence, proposed by key 1.
    static var header1: BlockHeader {
        BlockHeader(
            chainID: chainID, height: 1, timeMilliseconds: block1Time, previousBlockHash: genesis.hash,
            lastCommitHash: .zero, transactionsRoot: Block.transactionsRoot([transaction]),
            evidenceRoot: Block.evidenceRoot([]), stateRoot: block1StateRoot,
            validatorsHash: validatorSet.hash, proposer: public1)
    }

    static var block1: Block {
        Block(header: header1, lastCommit: nil, transactions: [transaction], evidence: [])
    }

    /// A vote at height 1, round 0, signed by `key` for `chainID`.
    static func vote(_ type: VoteType, blockID: Hash?, key: SigningKey, chainID: ChainID = Fixture.chainID) -> Vote {
        var vote = Vote(type: type, height: 1, round: 0, blockID: blockID, validator: PublicKey(of: key))
        vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: key)
        return vote
    }

    static var prevote: Vote { vote(.prevote, blockID: header1.hash, key: key1) }
    static var precommit: Vote { vote(.precommit, blockID: header1.hash, key: key1) }
    static var precommit2: Vote { vote(.precommit, blockID: header1.hash, key: key2) }

    /// Height 1, round 1, valid round 0, block 1, by key 1.
    static var proposal: Proposal {
        var proposal = Proposal(height: 1, round: 1, validRound: 0, blockID: header1.hash, proposer: public1)
        proposal.signature = Signature(signing: proposal.signingBytes(chainID: chainID), with: key1)
        return proposal
    }

    /// Key 1's and key 2's precommits for block 1.
    static var commit: CommitCertificate { try! CommitCertificate(precommits: [precommit, precommit2]) }

    /// Key 2 prevoted both nil and block 1 at height 1, round 0.
    static var evidence: DuplicateVoteEvidence {
        try! DuplicateVoteEvidence(vote(.prevote, blockID: header1.hash, key: key2), vote(.prevote, blockID: nil, key: key2))
    }

    /// Block 2: block 1's commit and the evidence, no transactions, proposed by key 2.
    static var header2: BlockHeader {
        BlockHeader(
            chainID: chainID, height: 2, timeMilliseconds: block2Time, previousBlockHash: header1.hash,
            lastCommitHash: commit.hash, transactionsRoot: Block.transactionsRoot([]),
            evidenceRoot: Block.evidenceRoot([evidence]), stateRoot: block2StateRoot,
            validatorsHash: validatorSet.hash, proposer: public2)
    }

    static var block2: Block {
        Block(header: header2, lastCommit: commit, transactions: [], evidence: [evidence])
    }

    /// Leaves 0x00, 0x01, ..., n-1 (one byte each).
    static func byteLeaves(_ count: Int) -> [[UInt8]] { (0..<count).map { [UInt8($0)] } }
}

/// Asserts that decoding `bytes` as `Value` fails with `code`.
func expectRejection<Value: CanonicalDecodable>(
    _ type: Value.Type, _ bytes: [UInt8], _ code: FormatError.Code, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(FormatError) {
        _ = try Value(canonicalBytes: bytes)
        Issue.record("\(Value.self) decoded, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

/// Asserts that `body` throws a FormatError with `code`.
func expectFormatError(
    _ code: FormatError.Code, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(FormatError) -> Void
) {
    do throws(FormatError) {
        try body()
        Issue.record("no error, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

/// Asserts that `body` throws a VerificationError with `code`.
func expectVerificationError(
    _ code: VerificationError.Code, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(VerificationError) -> Void
) {
    do throws(VerificationError) {
        try body()
        Issue.record("no error, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

/// Asserts that parsing `json` as a genesis file fails with `code`.
func expectGenesisError(
    _ code: GenesisError.Code, json: String, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(GenesisError) {
        _ = try Genesis(jsonBytes: Array(json.utf8))
        Issue.record("genesis accepted, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

/// Asserts that validating `file` fails with `code`.
func expectGenesisError(
    _ code: GenesisError.Code, file: Genesis.File, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(GenesisError) {
        _ = try Genesis(file: file)
        Issue.record("genesis accepted, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

extension Array where Element == UInt8 {
    /// A copy with `bytes` written over the bytes starting at `offset`.
    func replacing(at offset: Int, with bytes: [UInt8]) -> [UInt8] {
        var copy = self
        copy.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        return copy
    }

    /// A copy with one bit flipped.
    func flippingBit(_ bit: Int) -> [UInt8] {
        var copy = self
        copy[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
        return copy
    }
}

/// Big-endian bytes of an integer.
func bigEndian<Value: FixedWidthInteger>(_ value: Value) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
