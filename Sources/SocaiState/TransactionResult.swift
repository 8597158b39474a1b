import SocaiCore

/// The result of executing one transaction. Every code but `ok` means the transaction changed
/// nothing (codes below 100: not even its signer's nonce; 100 and above: only the nonce).
public enum TransactionResultCode: UInt16, Sendable, Equatable, CaseIterable {
    /// Applied in full.
    case ok = 0
    /// The envelope is for another chain.
    case wrongChain = 1
    /// The envelope's signature does not verify.
    case invalidSignature = 2
    /// The nonce is not the signer's last nonce + 1 (a replay, or out of order).
    case badNonce = 3

    /// The envelope's kind is not a known transaction kind.
    case unknownKind = 100
    /// The payload does not decode as its kind.
    case malformedPayload = 101
    /// The signer holds no authentication key of the DID it acts for.
    case notAuthorized = 102

    /// DIDCreate for a DID that exists.
    case didAlreadyExists = 110
    /// The DID does not exist.
    case didNotFound = 111
    /// The DID is deactivated.
    case didDeactivated = 112
    /// DIDCreate's DID is not the one derived from the signer's key.
    case didMismatch = 113
    /// The update would leave an invalid document (no authentication key, a duplicate or missing id, too many entries).
    case invalidDocument = 114

    /// The signer is not a governance key.
    case notGovernanceKey = 120
    /// An approval is not by a governance key or its signature does not verify.
    case invalidApproval = 121
    /// Fewer distinct governance keys approved than the threshold.
    case insufficientApprovals = 122
    /// The governance sequence is not the ledger's + 1.
    case wrongGovernanceSequence = 123
    /// The validator change would empty the set or exceed its size.
    case invalidValidatorChange = 124
    /// Parameters outside the protocol's hard limits.
    case invalidParameters = 125

    /// The DID is not a registered organization.
    case organizationNotFound = 130
    /// The organization is suspended.
    case organizationSuspended = 131
    /// The organization lacks the role this needs (provider or consumer).
    case missingRole = 132
    /// The DID is already a registered organization.
    case organizationExists = 133

    /// No consent with this id.
    case consentNotFound = 140
    /// The consent was revoked.
    case consentRevoked = 141
    /// The consent is not valid yet at this block's time.
    case consentNotYetValid = 142
    /// The consent has expired at this block's time.
    case consentExpired = 143
    /// The consent is for another subject, consumer, provider or purpose.
    case consentMismatch = 144
    /// The consent does not cover all the data categories.
    case categoriesNotCovered = 145
    /// The consent's maximum number of accesses is reached.
    case accessLimitReached = 146
    /// The validity window is empty or already over.
    case invalidValidity = 147
    /// The referenced consent request does not exist or asks for something else.
    case requestMismatch = 148

    /// The payer's balance is below the amount.
    case insufficientFunds = 150
    /// No offer with this id.
    case offerNotFound = 151
    /// The offer is closed.
    case offerClosed = 152
    /// The license does not allow this purpose.
    case purposeNotLicensed = 153
    /// A personal-data subject of the offer has no covering consent in the order.
    case subjectConsentMissing = 154
    /// No order with this id.
    case orderNotFound = 155
    /// The order is not in the status this step needs.
    case orderWrongStatus = 156
    /// A refund before the delivery deadline passed.
    case deadlineNotPassed = 157
    /// Paying oneself.
    case selfTransfer = 158
    /// A delivery after the order's deadline height (the buyer may take a refund instead).
    case deliveryDeadlinePassed = 159

    /// Whether the transaction consumed its signer's nonce.
    public var consumesNonce: Bool { rawValue >= 100 }

    /// A lowerCamelCase name, as JSON output writes it.
    public var name: String { String(describing: self) }
}

/// The outcome of one transaction in a block: its code and a message naming the broken rule.
public struct TransactionOutcome: Sendable, Equatable {
    /// The transaction's hash.
    public let transactionHash: Hash
    /// The result.
    public let code: TransactionResultCode
    /// A one-line explanation (not hashed: only the code is part of the state).
    public let message: String

    /// Creates an outcome.
    public init(transactionHash: Hash, code: TransactionResultCode, message: String) {
        self.transactionHash = transactionHash
        self.code = code
        self.message = message
    }
}

/// A rule a transaction broke, raised inside execution and recorded as its outcome.
struct RuleViolation: Error {
    let code: TransactionResultCode
    let message: String
    init(_ code: TransactionResultCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
