/// One validator: its consensus public key and voting power.
public struct Validator: Hashable, Sendable, CanonicalCodable {
    /// The key that signs votes and proposals.
    public let publicKey: PublicKey
    /// Voting power, 1 ... `Limits.votingPowerMax`.
    public let power: UInt64

    /// Creates a validator; the set validates the power.
    public init(publicKey: PublicKey, power: UInt64) {
        self.publicKey = publicKey
        self.power = power
    }

    /// Writes the key and the power.
    public func encode(to writer: inout ByteWriter) {
        writer.write(publicKey)
        writer.write(power)
    }

    /// Reads the key and the power.
    public init(from reader: inout ByteReader) throws(FormatError) {
        publicKey = try reader.read(PublicKey.self)
        power = try reader.readUInt64("validator power")
    }
}

/// The validators in force at a height, in canonical order (ascending public key).
public struct ValidatorSet: Hashable, Sendable, CanonicalCodable {
    /// The only validator-set format version.
    public static let formatVersion: UInt8 = 1

    /// The validators, strictly ascending by public key.
    public let validators: [Validator]
    /// The sum of all voting powers.
    public let totalPower: UInt64

    /// Sorts and validates: 1 ... `Limits.validatorsMax` members, distinct keys, powers in range.
    public init(_ members: [Validator]) throws(FormatError) {
        guard !members.isEmpty else {
            throw FormatError(.invalidValue, "a validator set must not be empty")
        }
        guard members.count <= Limits.validatorsMax else {
            throw FormatError(.overLimit, "\(members.count) validators exceed the maximum \(Limits.validatorsMax)")
        }
        let sorted = members.sorted { $0.publicKey < $1.publicKey }
        var total: UInt64 = 0
        for (index, validator) in sorted.enumerated() {
            guard validator.power > 0 else {
                throw FormatError(.invalidValue, "validator \(validator.publicKey) has zero voting power")
            }
            guard validator.power <= Limits.votingPowerMax else {
                throw FormatError(
                    .overLimit, "validator \(validator.publicKey) power \(validator.power) exceeds \(Limits.votingPowerMax)")
            }
            if index > 0, sorted[index - 1].publicKey == validator.publicKey {
                throw FormatError(.invalidValue, "validator key \(validator.publicKey) appears twice")
            }
            total += validator.power  // at most 150 × 2^50: cannot overflow
        }
        validators = sorted
        totalPower = total
    }

    /// The validator with `publicKey`, if it is a member.
    public func validator(for publicKey: PublicKey) -> Validator? {
        var low = 0
        var high = validators.count
        while low < high {
            let middle = (low + high) / 2
            if validators[middle].publicKey == publicKey { return validators[middle] }
            if validators[middle].publicKey < publicKey { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// Whether `power` is more than two thirds of the total (Tendermint's 2f+1).
    public func isQuorum(_ power: UInt64) -> Bool { power * 3 > totalPower * 2 }

    /// The validators hash in a block header: the tagged hash of this encoding.
    public var hash: Hash { Hash.tagged(.hashValidatorSet, canonicalBytes) }

    /// Writes version, count and members in order.
    public func encode(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(UInt16(validators.count))
        for validator in validators { writer.write(validator) }
    }

    /// Reads a set whose members must already be in strictly ascending key order.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("validator set version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "validator set version \(version) is unknown")
        }
        let count = Int(try reader.readUInt16("validator count"))
        guard count <= Limits.validatorsMax else {
            throw FormatError(.overLimit, "\(count) validators exceed the maximum \(Limits.validatorsMax)")
        }
        var members: [Validator] = []
        for index in 0..<count {
            let validator = try reader.read(Validator.self)
            if index > 0, !(members[index - 1].publicKey < validator.publicKey) {
                throw FormatError(.nonCanonical, "validator set members are not in strictly ascending key order")
            }
            members.append(validator)
        }
        try self.init(members)
    }
}
