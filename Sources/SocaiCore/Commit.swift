/// One validator's precommit signature inside a commit certificate.
public struct CommitSignature: Hashable, Sendable, CanonicalCodable {
    /// The validator that precommitted.
    public let validator: PublicKey
    /// Its precommit signature for the certificate's height, round and block.
    public let signature: Signature

    /// Creates an entry.
    public init(validator: PublicKey, signature: Signature) {
        self.validator = validator
        self.signature = signature
    }

    /// Writes key then signature.
    public func encode(to writer: inout ByteWriter) {
        writer.write(validator)
        writer.write(signature)
    }

    /// Reads key then signature.
    public init(from reader: inout ByteReader) throws(FormatError) {
        validator = try reader.read(PublicKey.self)
        signature = try reader.read(Signature.self)
    }
}

/// The certificate that a block was committed: precommits for one block at one height and
/// round, from validators holding more than two thirds of the voting power.
///
/// Only precommits for the block are kept (nil and absent votes carry no weight), one per
/// validator, in ascending key order, so a set of precommits has one encoding.
public struct CommitCertificate: Hashable, Sendable, CanonicalCodable {
    /// The only commit format version.
    public static let formatVersion: UInt8 = 1

    /// Height of the committed block.
    public let height: UInt64
    /// Round in which it was committed.
    public let round: UInt32
    /// Hash of the committed block.
    public let blockID: Hash
    /// The precommits, strictly ascending by validator key.
    public let signatures: [CommitSignature]

    /// Creates a certificate from precommits in any order; they are sorted, and duplicates rejected.
    public init(height: UInt64, round: UInt32, blockID: Hash, signatures: [CommitSignature]) throws(FormatError) {
        guard height >= 1 else { throw FormatError(.invalidValue, "commit height must be at least 1") }
        guard round <= Limits.roundMax else {
            throw FormatError(.overLimit, "commit round \(round) exceeds \(Limits.roundMax)")
        }
        guard !signatures.isEmpty else { throw FormatError(.invalidValue, "a commit must hold at least one precommit") }
        guard signatures.count <= Limits.validatorsMax else {
            throw FormatError(.overLimit, "\(signatures.count) precommits exceed the maximum \(Limits.validatorsMax)")
        }
        let sorted = signatures.sorted { $0.validator < $1.validator }
        for index in sorted.indices.dropFirst() where sorted[index - 1].validator == sorted[index].validator {
            throw FormatError(.invalidValue, "commit holds two precommits from validator \(sorted[index].validator)")
        }
        self.height = height
        self.round = round
        self.blockID = blockID
        self.signatures = sorted
    }

    /// Builds a certificate from signed precommit votes, which must all agree on height, round and block.
    public init(precommits: [Vote]) throws(FormatError) {
        guard let first = precommits.first, let blockID = first.blockID else {
            throw FormatError(.invalidValue, "a commit needs at least one precommit for a block")
        }
        for vote in precommits {
            guard vote.type == .precommit, vote.height == first.height, vote.round == first.round, vote.blockID == blockID else {
                throw FormatError(.invalidValue, "commit votes must all be precommits for one height, round and block")
            }
        }
        try self.init(
            height: first.height, round: first.round, blockID: blockID,
            signatures: precommits.map { CommitSignature(validator: $0.validator, signature: $0.signature) })
    }

    /// The precommit vote each entry stands for (its signature included).
    public var precommits: [Vote] {
        signatures.map { entry in
            Vote(
                type: .precommit, height: height, round: round, blockID: blockID, validator: entry.validator,
                signature: entry.signature)
        }
    }

    /// The commit hash that the next block's header carries as its last-commit hash.
    public var hash: Hash { Hash.tagged(.hashCommit, canonicalBytes) }

    /// Why a certificate does not prove its block, found by `firstDefect`.
    public enum Defect: Equatable, Sendable {
        /// A signer is not in the validator set.
        case unknownValidator(PublicKey)
        /// A signer's precommit signature does not verify.
        case invalidSignature(PublicKey)
        /// The signers hold `power` of the set's `totalPower`, not more than two thirds.
        case insufficientPower(power: UInt64, totalPower: UInt64)
    }

    /// The first reason, in entry order, why this certificate does not prove its block under
    /// `validatorSet`, or nil when it does: every signer is in the set, every signature
    /// verifies, and the signers hold more than two thirds of the set's power.
    /// `signatureVerifies(i)` says whether entry `i`'s precommit signature verifies, so a
    /// caller that checked the signatures already (the auditor, on all cores) shares this
    /// one rule with block sync and the light client instead of restating it.
    public func firstDefect(validatorSet: ValidatorSet, signatureVerifies: (Int) -> Bool) -> Defect? {
        var power: UInt64 = 0
        for (index, entry) in signatures.enumerated() {
            guard let member = validatorSet.validator(for: entry.validator) else { return .unknownValidator(entry.validator) }
            guard signatureVerifies(index) else { return .invalidSignature(entry.validator) }
            power += member.power
        }
        guard validatorSet.isQuorum(power) else {
            return .insufficientPower(power: power, totalPower: validatorSet.totalPower)
        }
        return nil
    }

    /// Checks that every signer is in `validatorSet`, every signature is valid for `chainID`,
    /// and the signers hold more than two thirds of the set's power.
    public func verify(chainID: ChainID, validatorSet: ValidatorSet) throws(VerificationError) {
        let votes = precommits
        let defect = firstDefect(validatorSet: validatorSet) { votes[$0].hasValidSignature(chainID: chainID) }
        switch defect {
        case nil:
            return
        case .unknownValidator(let validator):
            throw VerificationError(
                .unknownValidator, "commit at height \(height): \(validator) is not in the validator set")
        case .invalidSignature(let validator):
            throw VerificationError(
                .invalidSignature, "commit at height \(height): precommit signature of \(validator) is invalid")
        case .insufficientPower(let power, let totalPower):
            throw VerificationError(
                .insufficientPower,
                "commit at height \(height): precommit power \(power) of \(totalPower) is not more than two thirds")
        }
    }

    /// Writes the certificate (docs/FORMAT.md §7).
    public func encode(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(height)
        writer.write(round)
        writer.write(blockID)
        writer.write(UInt16(signatures.count))
        for entry in signatures { writer.write(entry) }
    }

    /// Reads a certificate whose entries must already be strictly ascending by key.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("commit version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "commit version \(version) is unknown")
        }
        let height = try reader.readUInt64("commit height")
        let round = try reader.readUInt32("commit round")
        let blockID = try reader.read(Hash.self)
        let count = Int(try reader.readUInt16("commit signature count"))
        guard count <= Limits.validatorsMax else {
            throw FormatError(.overLimit, "\(count) precommits exceed the maximum \(Limits.validatorsMax)")
        }
        var entries: [CommitSignature] = []
        for index in 0..<count {
            let entry = try reader.read(CommitSignature.self)
            if index > 0, !(entries[index - 1].validator < entry.validator) {
                throw FormatError(.nonCanonical, "commit precommits are not in strictly ascending validator order")
            }
            entries.append(entry)
        }
        try self.init(height: height, round: round, blockID: blockID, signatures: entries)
    }
}

/// Why a structure that decoded correctly failed verification against chain data.
public struct VerificationError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// A signature did not verify.
        case invalidSignature
        /// A signer is not a member of the validator set in force.
        case unknownValidator
        /// The signers hold two thirds or less of the voting power.
        case insufficientPower
        /// A hash, root, height or link does not match what commits to it.
        case mismatch
        /// The structure is well-formed but breaks a rule (for example, evidence of non-conflicting votes).
        case invalid
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation naming the height and what was wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}
