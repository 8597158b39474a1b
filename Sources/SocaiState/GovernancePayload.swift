import SocaiCore
import SocaiCrypto

/// A change only the governance keys named in genesis may make.
public enum GovernanceAction: Hashable, Sendable, CanonicalCodable {
    /// Register an existing DID as an organization with roles.
    case registerOrganization(did: DID, name: String, roles: [OrganizationRole])
    /// Suspend an organization: it can no longer act as provider or consumer.
    case suspendOrganization(did: DID)
    /// Lift a suspension.
    case reinstateOrganization(did: DID)
    /// Set a validator's voting power; 0 removes it. Takes effect two heights after the block.
    case setValidatorPower(publicKey: PublicKey, power: UInt64)
    /// Change the block limits.
    case setParameters(blockBytesMax: UInt32, blockTransactionsMax: UInt32)

    /// Writes a tag byte (1 register, 2 suspend, 3 reinstate, 4 validator power, 5 parameters) and fields.
    public func encode(to writer: inout ByteWriter) {
        switch self {
        case .registerOrganization(let did, let name, let roles):
            writer.write(UInt8(1))
            writer.write(did)
            writer.writeShortText(name)
            writer.write(roles.reduce(UInt8(0)) { $0 | $1.bit })
        case .suspendOrganization(let did):
            writer.write(UInt8(2))
            writer.write(did)
        case .reinstateOrganization(let did):
            writer.write(UInt8(3))
            writer.write(did)
        case .setValidatorPower(let publicKey, let power):
            writer.write(UInt8(4))
            writer.write(publicKey)
            writer.write(power)
        case .setParameters(let blockBytesMax, let blockTransactionsMax):
            writer.write(UInt8(5))
            writer.write(blockBytesMax)
            writer.write(blockTransactionsMax)
        }
    }

    /// Reads one action.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let tag = try reader.readUInt8("governance action")
        switch tag {
        case 1:
            let did = try reader.read(DID.self)
            let name = try reader.readShortText("organization name", maximum: LedgerLimits.organizationNameBytesMax)
            guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw FormatError(.invalidValue, "organization name must be non-empty and free of control characters")
            }
            self = .registerOrganization(did: did, name: name, roles: try decodeRoles(try reader.readUInt8("roles")))
        case 2: self = .suspendOrganization(did: try reader.read(DID.self))
        case 3: self = .reinstateOrganization(did: try reader.read(DID.self))
        case 4:
            let key = try reader.read(PublicKey.self)
            let power = try reader.readUInt64("validator power")
            guard power <= Limits.votingPowerMax else {
                throw FormatError(.overLimit, "validator power \(power) exceeds \(Limits.votingPowerMax)")
            }
            self = .setValidatorPower(publicKey: key, power: power)
        case 5:
            self = .setParameters(
                blockBytesMax: try reader.readUInt32("blockBytesMax"),
                blockTransactionsMax: try reader.readUInt32("blockTransactionsMax"))
        default:
            throw FormatError(.invalidValue, "governance action \(tag) is unknown")
        }
    }
}

/// Decodes a roles byte: a non-empty set of known role bits.
func decodeRoles(_ bits: UInt8) throws(FormatError) -> [OrganizationRole] {
    let roles = OrganizationRole.allCases.filter { bits & $0.bit != 0 }.sorted()
    guard !roles.isEmpty, roles.reduce(UInt8(0), { $0 | $1.bit }) == bits else {
        throw FormatError(.invalidValue, "roles byte \(bits) must be a non-empty set of 1 (provider) and 2 (consumer)")
    }
    return roles
}

/// One governance key's approval of an action.
public struct GovernanceApproval: Hashable, Sendable, CanonicalCodable {
    /// The approving governance key.
    public let publicKey: PublicKey
    /// Its signature of `Governance.approvalBytes`.
    public let signature: Signature

    /// Creates an approval.
    public init(publicKey: PublicKey, signature: Signature) {
        self.publicKey = publicKey
        self.signature = signature
    }

    /// Writes key and signature.
    public func encode(to writer: inout ByteWriter) {
        writer.write(publicKey)
        writer.write(signature)
    }

    /// Reads key and signature.
    public init(from reader: inout ByteReader) throws(FormatError) {
        publicKey = try reader.read(PublicKey.self)
        signature = try reader.read(Signature.self)
    }
}

/// `Governance`: an action with its sequence number and the approvals of further governance
/// keys. The envelope's signer must itself be a governance key and counts as one approval;
/// the action applies when the distinct approving keys reach the genesis threshold.
public struct Governance: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.governance
    /// Domain tag of an approval signature.
    public static let approvalTag = Array("socai/sign/governance/v1".utf8) + [0]

    /// Must be the ledger's governance sequence + 1, so an approval is good for one action only.
    public let sequence: UInt64
    /// What to do.
    public let action: GovernanceAction
    /// Approvals by other governance keys, ascending by key.
    public let approvals: [GovernanceApproval]

    /// Creates a payload; approvals are sorted by key.
    public init(sequence: UInt64, action: GovernanceAction, approvals: [GovernanceApproval] = []) {
        self.sequence = sequence
        self.action = action
        self.approvals = approvals.sorted { $0.publicKey < $1.publicKey }
    }

    /// The bytes a governance key signs to approve `action` as number `sequence` on `chainID`.
    public static func approvalBytes(chainID: ChainID, sequence: UInt64, action: GovernanceAction) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeRaw(approvalTag)
        writer.write(chainID)
        writer.write(sequence)
        writer.write(action)
        return writer.bytes
    }

    /// An approval of `action` as number `sequence`, signed with `key`.
    public static func approve(
        chainID: ChainID, sequence: UInt64, action: GovernanceAction, key: SigningKey
    ) -> GovernanceApproval {
        GovernanceApproval(
            publicKey: PublicKey(of: key),
            signature: Signature(signing: approvalBytes(chainID: chainID, sequence: sequence, action: action), with: key))
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(sequence)
        writer.write(action)
        writer.writeList(approvals) { writer, approval in writer.write(approval) }
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        sequence = try reader.readUInt64("governance sequence")
        action = try reader.read(GovernanceAction.self)
        approvals = try reader.readList("approvals", maximum: LedgerLimits.governanceApprovalsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(GovernanceApproval.self)
        }
        try requireStrictlyAscending(approvals.map(\.publicKey), "approvals")
    }
}
