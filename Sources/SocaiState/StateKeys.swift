import SocaiCore

/// The keys of the ledger state: an ASCII prefix naming the record type, then the record's
/// identifying fields (docs/FORMAT.md, "State keys"). DIDs contain no '/', so every key
/// parses one way; numbers are 8-byte big-endian so keys sort in numeric order.
public enum StateKey {
    /// Domain tag hashed before a state key to place it in the state tree.
    public static let treeKeyTag = Array("socai/state-key/v1".utf8) + [0]

    /// The tree position of a state key: SHA-256(tag ‖ key).
    public static func treeKey(_ key: [UInt8]) -> Hash { Hash.sha256(treeKeyTag + key) }
    /// The tree value of a state value: SHA-256(value).
    public static func treeValue(_ value: [UInt8]) -> Hash { Hash.sha256(value) }

    static func text(_ prefix: String) -> [UInt8] { Array(prefix.utf8) }
    static func number(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(value)
        return writer.bytes
    }

    /// `account/` ‖ public key: the signer's nonce.
    public static func account(_ key: PublicKey) -> [UInt8] { text("account/") + key.bytes }
    /// `did/` ‖ DID: the current document.
    public static func did(_ did: DID) -> [UInt8] { text("did/\(did.value)") }
    /// `did-version/` ‖ DID ‖ `/` ‖ u64 version: the document as of that version (history).
    public static func didVersion(_ did: DID, _ version: UInt64) -> [UInt8] {
        text("did-version/\(did.value)/") + number(version)
    }
    /// Prefix of a DID's history.
    public static func didVersionPrefix(_ did: DID) -> [UInt8] { text("did-version/\(did.value)/") }
    /// `balance/` ‖ DID: credits.
    public static func balance(_ did: DID) -> [UInt8] { text("balance/\(did.value)") }
    /// `org/` ‖ DID: a registered organization.
    public static func organization(_ did: DID) -> [UInt8] { text("org/\(did.value)") }
    /// `governance`: keys, threshold and sequence.
    public static let governance = text("governance")
    /// `parameters`: block limits.
    public static let parameters = text("parameters")
    /// `validators`: the validator set in force at the current height.
    public static let validators = text("validators")
    /// `validator-updates/` ‖ u64 height: power changes that take effect at that height.
    public static func validatorUpdates(_ height: UInt64) -> [UInt8] { text("validator-updates/") + number(height) }
    /// `consent/` ‖ id.
    public static func consent(_ id: Hash) -> [UInt8] { text("consent/") + id.bytes }
    /// `consent-request/` ‖ id.
    public static func consentRequest(_ id: Hash) -> [UInt8] { text("consent-request/") + id.bytes }
    /// `index/consent-by-subject/` ‖ DID ‖ `/` ‖ id: empty value; lists a subject's consents.
    public static func consentBySubject(_ subject: DID, _ id: Hash) -> [UInt8] { consentBySubjectPrefix(subject) + id.bytes }
    /// Prefix of a subject's consents.
    public static func consentBySubjectPrefix(_ subject: DID) -> [UInt8] { text("index/consent-by-subject/\(subject.value)/") }
    /// `index/consent-by-consumer/` ‖ DID ‖ `/` ‖ id: empty value; lists a consumer's consents.
    public static func consentByConsumer(_ consumer: DID, _ id: Hash) -> [UInt8] { consentByConsumerPrefix(consumer) + id.bytes }
    /// Prefix of a consumer's consents.
    public static func consentByConsumerPrefix(_ consumer: DID) -> [UInt8] {
        text("index/consent-by-consumer/\(consumer.value)/")
    }
    /// `access/` ‖ DID ‖ `/` ‖ u64 sequence: the subject's access log.
    public static func access(_ subject: DID, _ sequence: UInt64) -> [UInt8] { accessPrefix(subject) + number(sequence) }
    /// Prefix of a subject's access log.
    public static func accessPrefix(_ subject: DID) -> [UInt8] { text("access/\(subject.value)/") }
    /// `access-count/` ‖ DID: how many accesses a subject's log holds.
    public static func accessCount(_ subject: DID) -> [UInt8] { text("access-count/\(subject.value)") }
    /// `offer/` ‖ id.
    public static func offer(_ id: Hash) -> [UInt8] { text("offer/") + id.bytes }
    /// Prefix of all offers.
    public static let offerPrefix = text("offer/")
    /// `order/` ‖ id.
    public static func order(_ id: Hash) -> [UInt8] { text("order/") + id.bytes }
    /// Prefix of all orders.
    public static let orderPrefix = text("order/")
    /// `escrow-total`: credits held in escrow by open orders (value conservation is checkable in one read).
    public static let escrowTotal = text("escrow-total")
    /// `tx/` ‖ transaction hash: where and with which result a transaction was executed.
    public static func transaction(_ hash: Hash) -> [UInt8] { text("tx/") + hash.bytes }

    /// The prefixes of the keys that some query lists in key order (`LedgerQueries`): a
    /// DID's history, the consent indexes, access logs, offers and orders. Every other key
    /// is only ever read by itself. A store need keep only these keys in key order; the
    /// rest it may find through the state tree, which orders keys by their hash.
    public static let listedPrefixes: [[UInt8]] = [
        text("did-version/"), text("index/"), text("access/"), text("offer/"), text("order/"),
    ]

    /// Whether `key` is one some query lists (it starts with one of `listedPrefixes`).
    public static func isListed(_ key: [UInt8]) -> Bool {
        listedPrefixes.contains { key.starts(with: $0) }
    }
}
