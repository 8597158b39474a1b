import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import Testing

/// The order of the Ed25519 base point, little-endian (RFC 8032 §5.1: L = 2^252 + 27742317777372353535851937790883648493).
let ed25519OrderLittleEndian: [UInt8] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]

/// `signature` with S replaced by S + L: the same point equation, a non-canonical scalar.
func withNonCanonicalS(_ signature: [UInt8]) -> [UInt8] {
    var result = Array(signature.prefix(32))
    var carry = 0
    for index in 0..<32 {
        let sum = Int(signature[32 + index]) + Int(ed25519OrderLittleEndian[index]) + carry
        result.append(UInt8(sum & 0xff))
        carry = sum >> 8
    }
    precondition(carry == 0)
    return result
}

@Suite("Ed25519 signatures")
struct SignatureTests {
    @Test("RFC 8032 TEST 1 and TEST 2")
    func rfc8032() throws {
        #expect(Fixture.public1.hex == Fixture.key1PublicKeyHex)
        let signature = try Signature(try Hex.decode(Fixture.key1EmptySignatureHex))
        #expect(Fixture.public1.isValidSignature(signature, of: []))
        #expect(!Fixture.public1.isValidSignature(signature, of: [0]))

        let key2 = Fixture.signingKey("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
        #expect(Hex.encode(key2.publicKey) == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        #expect(
            Hex.encode(key2.signature(for: [0x72]))
                == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        )
    }

    @Test("one flipped bit in the message, the key or the signature invalidates a transaction signature")
    func flippedBits() throws {
        let transaction = Fixture.transaction
        let message = transaction.signingBytes
        let key = transaction.signer.bytes
        let signature = transaction.signature.bytes
        #expect(Ed25519.isValidSignature(signature, of: message, publicKey: key))
        for bit in 0..<(message.count * 8) {
            #expect(!Ed25519.isValidSignature(signature, of: message.flippingBit(bit), publicKey: key), "message bit \(bit)")
        }
        for bit in 0..<(key.count * 8) {
            #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: key.flippingBit(bit)), "key bit \(bit)")
        }
        for bit in 0..<(signature.count * 8) {
            #expect(!Ed25519.isValidSignature(signature.flippingBit(bit), of: message, publicKey: key), "signature bit \(bit)")
        }
        // Wrong lengths are invalid, never a crash.
        #expect(!Ed25519.isValidSignature(Array(signature.dropLast()), of: message, publicKey: key))
        #expect(!Ed25519.isValidSignature(signature, of: message, publicKey: Array(key.dropLast())))
    }

    @Test("every field of a transaction is covered by its signature")
    func transactionFieldsAreSigned() throws {
        let original = Fixture.transaction
        #expect(original.hasValidSignature)
        var changed = original
        changed.chainID = try ChainID("socai-other")
        #expect(!changed.hasValidSignature, "chain id")
        changed = original
        changed.nonce = 2
        #expect(!changed.hasValidSignature, "nonce")
        changed = original
        changed.kind = 2
        #expect(!changed.hasValidSignature, "kind")
        changed = original
        changed.payload = Array("hello socaj".utf8)
        #expect(!changed.hasValidSignature, "payload")
        changed = original
        changed.signer = Fixture.public2
        #expect(!changed.hasValidSignature, "signer")
        // Flipping any bit of the encoding either fails decoding or invalidates the signature.
        let bytes = original.canonicalBytes
        for bit in 0..<(bytes.count * 8) {
            do throws(FormatError) {
                let decoded = try TransactionEnvelope(canonicalBytes: bytes.flippingBit(bit))
                #expect(!decoded.hasValidSignature, "bit \(bit)")
                #expect(decoded.hash != original.hash)
            } catch {
                continue
            }
        }
    }

    @Test("a signature for one chain id does not verify for another")
    func wrongChainID() throws {
        let other = try ChainID("socai-prod")
        #expect(Fixture.prevote.hasValidSignature(chainID: Fixture.chainID))
        #expect(!Fixture.prevote.hasValidSignature(chainID: other))
        #expect(!Fixture.precommit.hasValidSignature(chainID: other))
        #expect(!Fixture.proposal.hasValidSignature(chainID: other))
        // Even when the other chain id is a prefix of this one.
        #expect(!Fixture.prevote.hasValidSignature(chainID: try ChainID("socai")))
        let signedElsewhere = Fixture.vote(.precommit, blockID: Fixture.header1.hash, key: Fixture.key1, chainID: other)
        #expect(signedElsewhere.hasValidSignature(chainID: other))
        #expect(!signedElsewhere.hasValidSignature(chainID: Fixture.chainID))
    }

    @Test("a prevote signature presented as a precommit is invalid, and the reverse")
    func voteTypesAreSeparated() {
        var asPrecommit = Fixture.prevote
        asPrecommit.type = .precommit
        #expect(!asPrecommit.hasValidSignature(chainID: Fixture.chainID))
        var asPrevote = Fixture.precommit
        asPrevote.type = .prevote
        #expect(!asPrevote.hasValidSignature(chainID: Fixture.chainID))
        // The signed bytes differ in the tag and in the type byte.
        #expect(Fixture.prevote.signingBytes(chainID: Fixture.chainID) != asPrecommit.signingBytes(chainID: Fixture.chainID))
        // A prevote signature slipped into a commit fails verification.
        let forged = try! CommitCertificate(
            height: 1, round: 0, blockID: Fixture.header1.hash,
            signatures: [
                CommitSignature(validator: Fixture.public1, signature: Fixture.prevote.signature),
                Fixture.commit.signatures.first { $0.validator == Fixture.public2 }!,
            ])
        expectVerificationError(.invalidSignature) { () throws(VerificationError) in
            try forged.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
    }

    @Test("signatures do not cross between transactions, votes and proposals")
    func domainsAreSeparated() {
        let transaction = Fixture.transaction
        var vote = Fixture.prevote
        vote.signature = transaction.signature
        #expect(!vote.hasValidSignature(chainID: Fixture.chainID), "transaction signature as a vote")
        #expect(!Fixture.public1.isValidSignature(transaction.signature, of: vote.signingBytes(chainID: Fixture.chainID)))
        var proposal = Fixture.proposal
        proposal.signature = Fixture.prevote.signature
        #expect(!proposal.hasValidSignature(chainID: Fixture.chainID), "vote signature as a proposal")
        var fromProposal = Fixture.prevote
        fromProposal.signature = Fixture.proposal.signature
        #expect(!fromProposal.hasValidSignature(chainID: Fixture.chainID), "proposal signature as a vote")
        // A signature over the untagged bytes (no domain tag) is not accepted.
        let untagged = Array(transaction.signingBytes.dropFirst(DomainTag.signTransaction.bytes.count))
        var bare = transaction
        bare.signature = Signature(signing: untagged, with: Fixture.key1)
        #expect(!bare.hasValidSignature)
        // The signing bytes start with the tag, and (for votes and proposals) the chain id follows it.
        #expect(transaction.signingBytes.starts(with: DomainTag.signTransaction.bytes))
        let voteBytes = Fixture.precommit.signingBytes(chainID: Fixture.chainID)
        #expect(voteBytes.starts(with: DomainTag.signPrecommit.bytes + Fixture.chainID.canonicalBytes))
        #expect(
            Array(voteBytes.dropFirst(DomainTag.signPrecommit.bytes.count + 11))
                == Array(Fixture.precommit.canonicalBytes.dropLast(64)))
        let proposalBytes = Fixture.proposal.signingBytes(chainID: Fixture.chainID)
        #expect(
            proposalBytes == DomainTag.signProposal.bytes + Fixture.chainID.canonicalBytes
                + Array(Fixture.proposal.canonicalBytes.dropLast(64)))
    }

    @Test("libsodium's strict rules: non-canonical S and small-order keys are rejected")
    func strictVerification() throws {
        let transaction = Fixture.transaction
        let stretched = withNonCanonicalS(transaction.signature.bytes)
        #expect(stretched != transaction.signature.bytes)
        #expect(!Ed25519.isValidSignature(stretched, of: transaction.signingBytes, publicKey: transaction.signer.bytes))
        var malleated = transaction
        malleated.signature = try Signature(stretched)
        #expect(!malleated.hasValidSignature)

        // The identity point as key and as R with S = 0 satisfies the cofactorless equation for
        // every message; a permissive verifier (OpenSSL, for one) accepts it. libsodium must not.
        let identity: [UInt8] = [1] + [UInt8](repeating: 0, count: 31)
        let forgery = identity + [UInt8](repeating: 0, count: 32)
        #expect(!Ed25519.isValidSignature(forgery, of: [0x72], publicKey: identity))
        #expect(!Ed25519.isValidSignature(forgery, of: transaction.signingBytes, publicKey: identity))
        var forgedTransaction = TransactionEnvelope(
            chainID: Fixture.chainID, signer: try PublicKey(identity), nonce: 1, kind: 1, payload: [])
        forgedTransaction.signature = try Signature(forgery)
        #expect(!forgedTransaction.hasValidSignature)
        // The all-zero key (a small-order point) and the zero signature.
        #expect(!Ed25519.isValidSignature([UInt8](repeating: 0, count: 64), of: [], publicKey: [UInt8](repeating: 0, count: 32)))
    }

    @Test("the signature checks listed in FORMAT.md")
    func documentSignatureChecks() throws {
        let text = try FormatDocument.text()
        let blocks = FormatDocument.fencedBlocks(text, info: "signature-checks")
        try #require(blocks.count == 1, "FORMAT.md must hold exactly one ```signature-checks block")
        var checked = 0
        for line in blocks[0].split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = line.split(separator: " ").map(String.init)
            try #require(parts.count == 5, "line: \(line)")
            let verdict = parts[1]
            let key = try Hex.decode(parts[2])
            let signature = try Hex.decode(parts[3])
            let message = parts[4] == "-" ? [] : try Hex.decode(parts[4])
            let valid = Ed25519.isValidSignature(signature, of: message, publicKey: key)
            #expect(verdict == "accept" || verdict == "reject", "\(parts[0])")
            #expect(valid == (verdict == "accept"), "\(parts[0])")
            checked += 1
        }
        #expect(checked >= 4)
    }
}

@Suite("commit certificates and evidence against a validator set")
struct CommitVerificationTests {
    @Test("two of two precommits with equal power verify")
    func validCommit() throws {
        try Fixture.commit.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        #expect(Fixture.commit.precommits == [Fixture.precommit2, Fixture.precommit])
    }

    @Test("power of exactly two thirds or less is insufficient")
    func insufficientPower() throws {
        let single = try CommitCertificate(precommits: [Fixture.precommit])
        expectVerificationError(.insufficientPower, "1 of 2") { () throws(VerificationError) in
            try single.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
        // key 1 holds exactly 2/3: 3 * 2 > 2 * 3 is false.
        let twoThirds = try ValidatorSet([
            Validator(publicKey: Fixture.public1, power: 2), Validator(publicKey: Fixture.public2, power: 1),
        ])
        #expect(!twoThirds.isQuorum(2))
        #expect(twoThirds.isQuorum(3))
        expectVerificationError(.insufficientPower, "exactly 2/3") { () throws(VerificationError) in
            try single.verify(chainID: Fixture.chainID, validatorSet: twoThirds)
        }
        // Just above two thirds: 3 * 201 = 603 > 2 * 301 = 602.
        let justAbove = try ValidatorSet([
            Validator(publicKey: Fixture.public1, power: 201), Validator(publicKey: Fixture.public2, power: 100),
        ])
        try single.verify(chainID: Fixture.chainID, validatorSet: justAbove)
        // Large powers do not overflow the comparison.
        let large = try ValidatorSet([
            Validator(publicKey: Fixture.public1, power: Limits.votingPowerMax),
            Validator(publicKey: Fixture.public2, power: Limits.votingPowerMax),
        ])
        #expect(!large.isQuorum(Limits.votingPowerMax))
        #expect(large.isQuorum(2 * Limits.votingPowerMax))
    }

    @Test("a precommit from outside the validator set is an unknown validator")
    func unknownValidator() throws {
        let outsider = Fixture.vote(.precommit, blockID: Fixture.header1.hash, key: Fixture.key3)
        let commit = try CommitCertificate(precommits: [Fixture.precommit, Fixture.precommit2, outsider])
        expectVerificationError(.unknownValidator) { () throws(VerificationError) in
            try commit.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
        let onlyKey1 = try ValidatorSet([Validator(publicKey: Fixture.public1, power: 1)])
        expectVerificationError(.unknownValidator) { () throws(VerificationError) in
            try Fixture.commit.verify(chainID: Fixture.chainID, validatorSet: onlyKey1)
        }
    }

    @Test("a bad precommit signature fails verification")
    func badSignature() throws {
        let otherBlock = try Hash([UInt8](repeating: 0xab, count: 32))
        let wrongBlock = Fixture.vote(.precommit, blockID: otherBlock, key: Fixture.key2)
        let forged = try CommitCertificate(
            height: 1, round: 0, blockID: Fixture.header1.hash,
            signatures: [
                CommitSignature(validator: Fixture.public1, signature: Fixture.precommit.signature),
                CommitSignature(validator: Fixture.public2, signature: wrongBlock.signature),
            ])
        expectVerificationError(.invalidSignature, "signature for another block") { () throws(VerificationError) in
            try forged.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
        expectVerificationError(.invalidSignature, "wrong chain id") { () throws(VerificationError) in
            try Fixture.commit.verify(chainID: try! ChainID("socai-other"), validatorSet: Fixture.validatorSet)
        }
        let otherRound = try CommitCertificate(
            height: 1, round: 1, blockID: Fixture.header1.hash, signatures: Fixture.commit.signatures)
        expectVerificationError(.invalidSignature, "other round") { () throws(VerificationError) in
            try otherRound.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
        // One flipped bit in any signature of the encoded commit.
        let bytes = Fixture.commit.canonicalBytes
        for offset in [47 + 32, 47 + 96 + 32 + 63] {
            let tampered = try CommitCertificate(canonicalBytes: bytes.flippingBit(offset * 8))
            expectVerificationError(.invalidSignature, "byte \(offset)") { () throws(VerificationError) in
                try tampered.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
            }
        }
    }

    @Test("evidence verifies against the validator set and signatures")
    func evidence() throws {
        try Fixture.evidence.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        let onlyKey1 = try ValidatorSet([Validator(publicKey: Fixture.public1, power: 1)])
        expectVerificationError(.unknownValidator) { () throws(VerificationError) in
            try Fixture.evidence.verify(chainID: Fixture.chainID, validatorSet: onlyKey1)
        }
        expectVerificationError(.invalidSignature) { () throws(VerificationError) in
            try Fixture.evidence.verify(chainID: try! ChainID("socai-other"), validatorSet: Fixture.validatorSet)
        }
        var unsigned = Fixture.evidence.voteB
        unsigned.signature = .empty
        let bad = try DuplicateVoteEvidence(Fixture.evidence.voteA, unsigned)
        expectVerificationError(.invalidSignature) { () throws(VerificationError) in
            try bad.verify(chainID: Fixture.chainID, validatorSet: Fixture.validatorSet)
        }
    }
}

@Suite("Block.validateBasic")
struct BlockValidationTests {
    @Test("the fixture blocks are valid")
    func validBlocks() throws {
        try Fixture.block1.validateBasic()
        try Fixture.block2.validateBasic()
    }

    @Test("transactions that do not match the transactions root")
    func transactionsRoot() throws {
        var block = Fixture.block1
        block.transactions.append(
            try TransactionEnvelope.signed(chainID: Fixture.chainID, key: Fixture.key1, nonce: 2, kind: 1, payload: []))
        expectVerificationError(.mismatch, "extra transaction") { () throws(VerificationError) in try block.validateBasic() }
        block = Fixture.block1
        block.transactions = []
        expectVerificationError(.mismatch, "missing transaction") { () throws(VerificationError) in try block.validateBasic() }
        // Order matters.
        let second = try TransactionEnvelope.signed(chainID: Fixture.chainID, key: Fixture.key2, nonce: 1, kind: 1, payload: [1])
        var header = Fixture.header1
        header.transactionsRoot = Block.transactionsRoot([Fixture.transaction, second])
        block = Block(header: header, lastCommit: nil, transactions: [second, Fixture.transaction], evidence: [])
        expectVerificationError(.mismatch, "swapped transactions") { () throws(VerificationError) in try block.validateBasic() }
        block.transactions = [Fixture.transaction, second]
        try block.validateBasic()
    }

    @Test("evidence that does not match the evidence root")
    func evidenceRoot() throws {
        var block = Fixture.block2
        block.evidence = []
        expectVerificationError(.mismatch) { () throws(VerificationError) in try block.validateBasic() }
        block = Fixture.block1
        block.evidence = [Fixture.evidence]
        expectVerificationError(.mismatch) { () throws(VerificationError) in try block.validateBasic() }
    }

    @Test("a transaction for another chain")
    func foreignTransaction() throws {
        let foreign = try TransactionEnvelope.signed(
            chainID: try ChainID("socai-other"), key: Fixture.key1, nonce: 1, kind: 1, payload: [])
        var header = Fixture.header1
        header.transactionsRoot = Block.transactionsRoot([foreign])
        let block = Block(header: header, lastCommit: nil, transactions: [foreign], evidence: [])
        expectVerificationError(.mismatch) { () throws(VerificationError) in try block.validateBasic() }
    }

    @Test("block 1 has no last commit and a zero last-commit hash")
    func heightOne() {
        var block = Fixture.block1
        block.lastCommit = Fixture.commit
        expectVerificationError(.invalid, "commit at height 1") { () throws(VerificationError) in try block.validateBasic() }
        block = Fixture.block1
        block.header.lastCommitHash = Fixture.commit.hash
        expectVerificationError(.invalid, "non-zero last-commit hash") { () throws(VerificationError) in try block.validateBasic()
        }
    }

    @Test("blocks above 1 carry the commit of the block below")
    func lastCommit() throws {
        var block = Fixture.block2
        block.lastCommit = nil
        expectVerificationError(.invalid, "missing commit") { () throws(VerificationError) in try block.validateBasic() }

        let wrongHeight = try CommitCertificate(
            height: 2, round: 0, blockID: Fixture.header1.hash, signatures: Fixture.commit.signatures)
        block = Fixture.block2
        block.lastCommit = wrongHeight
        block.header.lastCommitHash = wrongHeight.hash
        expectVerificationError(.mismatch, "commit for height 2") { () throws(VerificationError) in try block.validateBasic() }

        let wrongBlock = try CommitCertificate(height: 1, round: 0, blockID: .zero, signatures: Fixture.commit.signatures)
        block = Fixture.block2
        block.lastCommit = wrongBlock
        block.header.lastCommitHash = wrongBlock.hash
        expectVerificationError(.mismatch, "commit for another block") { () throws(VerificationError) in try block.validateBasic()
        }

        block = Fixture.block2
        block.header.lastCommitHash = .zero
        expectVerificationError(.mismatch, "last-commit hash") { () throws(VerificationError) in try block.validateBasic() }

        // A commit for the same block in another round is a different commit (different hash).
        let otherRound = try CommitCertificate(
            height: 1, round: 1, blockID: Fixture.header1.hash, signatures: Fixture.commit.signatures)
        block = Fixture.block2
        block.lastCommit = otherRound
        expectVerificationError(.mismatch, "commit of another round") { () throws(VerificationError) in try block.validateBasic()
        }
    }

    @Test("block 1 links to the genesis hash")
    func genesisLink() {
        #expect(Fixture.block1.header.previousBlockHash == Fixture.genesis.hash)
        #expect(Fixture.block2.header.previousBlockHash == Fixture.block1.hash)
        #expect(Fixture.block2.header.lastCommitHash == Fixture.commit.hash)
        #expect(Fixture.block1.header.validatorsHash == Fixture.genesis.validatorSet.hash)
    }
}

@Suite("RFC 6962 Merkle trees")
struct MerkleTests {
    /// An independent recursive definition: split where the highest set bit of n - 1 is.
    static func referenceRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return SHA256.hash([]) }
        if leaves.count == 1 { return SHA256.hash([0x00] + leaves.first!) }
        let k = 1 << (Int.bitWidth - 1 - (leaves.count - 1).leadingZeroBitCount)
        let left = referenceRoot(leaves.prefix(k))
        let right = referenceRoot(leaves.dropFirst(k))
        return SHA256.hash([0x01] + left + right)
    }

    @Test("roots match an independent recursive definition for 0 to 70 leaves")
    func matchesReference() {
        for count in 0...70 {
            let leaves = (0..<count).map { [UInt8(truncatingIfNeeded: $0), UInt8(count)] }
            #expect(Merkle.root(leaves: leaves).bytes == Self.referenceRoot(leaves[...]), "\(count) leaves")
        }
    }

    @Test("empty, single and pair roots")
    func smallTrees() {
        #expect(Merkle.root(leaves: []).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Merkle.root(leaves: [[7]]) == Merkle.leafHash([7]))
        #expect(Merkle.leafHash([7]) == Hash.sha256([0x00, 7]))
        #expect(Merkle.root(leaves: [[], []]) == Merkle.nodeHash(Merkle.leafHash([]), Merkle.leafHash([])))
        #expect(
            Merkle.nodeHash(Merkle.leafHash([1]), Merkle.leafHash([2]))
                == Hash.sha256([0x01] + Merkle.leafHash([1]).bytes + Merkle.leafHash([2]).bytes))
        // An empty leaf is not an empty tree.
        #expect(Merkle.root(leaves: [[]]) != Merkle.root(leaves: []))
    }

    @Test("the split is at the largest power of two below n")
    func split() {
        let leaves = Fixture.byteLeaves(5)
        let four = Merkle.root(leaves: Array(leaves.prefix(4)))
        #expect(Merkle.root(leaves: leaves) == Merkle.nodeHash(four, Merkle.leafHash(leaves[4])))
        let three = Fixture.byteLeaves(3)
        #expect(
            Merkle.root(leaves: three) == Merkle.nodeHash(Merkle.root(leaves: Array(three.prefix(2))), Merkle.leafHash(three[2])))
        let eight = Fixture.byteLeaves(8)
        #expect(
            Merkle.root(leaves: eight)
                == Merkle.nodeHash(Merkle.root(leaves: Array(eight.prefix(4))), Merkle.root(leaves: Array(eight.suffix(4)))))
    }

    @Test("order, duplication and count change the root")
    func rootsDiffer() {
        var roots: Set<Hash> = []
        for count in 0...40 { roots.insert(Merkle.root(leaves: Fixture.byteLeaves(count))) }
        #expect(roots.count == 41)
        let three = Fixture.byteLeaves(3)
        #expect(
            Merkle.root(leaves: three) != Merkle.root(leaves: three + [three[2]]),
            "duplicating the last leaf (Bitcoin's weakness)")
        #expect(Merkle.root(leaves: three) != Merkle.root(leaves: [three[1], three[0], three[2]]))
    }

    @Test("an interior node cannot pass as a leaf")
    func secondPreimage() {
        let leaves: [[UInt8]] = [[1], [2]]
        let root = Merkle.root(leaves: leaves)
        let concatenated = Merkle.leafHash(leaves[0]).bytes + Merkle.leafHash(leaves[1]).bytes
        #expect(root != Merkle.root(leaves: [concatenated]))
        #expect(root != Hash.sha256(concatenated))
        #expect(root == Hash.sha256([0x01] + concatenated))
    }

    @Test("block roots are Merkle roots of the encodings")
    func blockRoots() {
        let transactions = [Fixture.transaction]
        #expect(Block.transactionsRoot(transactions) == Merkle.root(leaves: transactions.map(\.canonicalBytes)))
        #expect(Block.transactionsRoot(transactions) == Merkle.leafHash(Fixture.transaction.canonicalBytes))
        #expect(Block.evidenceRoot([Fixture.evidence]) == Merkle.leafHash(Fixture.evidence.canonicalBytes))
        #expect(Block.transactionsRoot([]) == Hash.sha256([]))
        // A transaction hash is not a leaf hash: leaves are the encodings, not the tagged hashes.
        #expect(Block.transactionsRoot(transactions) != Fixture.transaction.hash)
    }
}
