import SocaiCore

/// A state entry (or its absence) with the proof that ties it to a state root.
public struct StateProof: Sendable, Equatable {
    /// The state key.
    public let key: [UInt8]
    /// The value under the key, or nil when the proof shows the key is absent.
    public let value: [UInt8]?
    /// The state root the proof is against.
    public let root: Hash
    /// The sparse Merkle proof.
    public let proof: SparseMerkleProof

    /// Creates a proof value.
    public init(key: [UInt8], value: [UInt8]?, root: Hash, proof: SparseMerkleProof) {
        self.key = key
        self.value = value
        self.root = root
        self.proof = proof
    }

    /// Whether the proof shows `value` under `key` (or the key's absence) in the tree with `root`.
    public func verify() -> Bool {
        proof.verify(root: root, key: StateKey.treeKey(key), valueHash: value.map(StateKey.treeValue))
    }
}

/// A record read from state together with the proof of its entry.
public struct Proven<Record: StateRecord>: Sendable, Equatable {
    /// The record.
    public let record: Record
    /// The proof of the entry holding it.
    public let proof: StateProof
}

/// One page of a list query: its proven items, and when the page is full the cursor to
/// ask for the next one with (the last listed state key; the next page may be empty).
public struct ListPage<Record: StateRecord> {
    /// The items, in the list's order.
    public let items: [Proven<Record>]
    /// Where the next page starts, or nil when this one was not full.
    public let next: [UInt8]?
}

/// Read-only questions about the ledger, each answerable with a proof against a state root.
///
/// `root` selects the state: the current root by default, or the root of an earlier height
/// (the tree keeps old nodes). Lists are bounded by `limit` (at most `listLimitMax`).
public struct LedgerQueries {
    /// The largest number of entries one list query returns.
    public static let listLimitMax = 1_000

    let backend: any StateBackend

    /// Queries over `backend`.
    public init(backend: any StateBackend) { self.backend = backend }

    /// The proof of `key` against the tree whose root `root` names (default: the current root).
    ///
    /// Against an older root, `valueAtRoot` must be supplied by the caller (the current value
    /// may have changed since); the proof then shows whether that value was there.
    public func proof(
        forKey key: [UInt8], root: SparseMerkleNodeReference? = nil, valueAtRoot: [UInt8]?? = nil
    ) throws(StateError) -> StateProof {
        let root = root ?? backend.stateRootReference
        let value: [UInt8]?
        if let valueAtRoot { value = valueAtRoot } else { value = try backend.value(forKey: key) }
        let tree = SparseMerkleTree(root: root, nodes: backend.treeNodes)
        return StateProof(key: key, value: value, root: root.hash, proof: try tree.proof(for: StateKey.treeKey(key)))
    }

    private func proven<Record: StateRecord>(_ type: Record.Type, _ key: [UInt8]) throws(StateError) -> Proven<Record>? {
        guard let bytes = try backend.value(forKey: key) else { return nil }
        let record: Record
        do throws(FormatError) { record = try Record(canonicalBytes: bytes) } catch {
            throw StateError(.corrupt, "state entry does not decode as \(Record.self): \(error.message)")
        }
        return Proven(record: record, proof: try proof(forKey: key))
    }

    /// The entries under `prefix` after the listed key `after` (from the first when nil), at
    /// most `limit` (and `listLimitMax`), each proven under the key `key` makes of it. The
    /// page's `next` is its last listed key when the page is full: more may follow.
    private func list<Record: StateRecord>(
        _ type: Record.Type, prefix: [UInt8], after: [UInt8]? = nil, limit: Int,
        key: (([UInt8], [UInt8])) throws(StateError) -> [UInt8]
    ) throws(StateError) -> ListPage<Record> {
        if let after, !after.starts(with: prefix) {
            throw StateError(.invalidArgument, "the list cursor is not a key of this list")
        }
        let bounded = min(max(limit, 0), Self.listLimitMax)
        let entries = try backend.entries(withPrefix: prefix, after: after, limit: bounded)
        var results: [Proven<Record>] = []
        for entry in entries {
            if let item = try proven(Record.self, try key((entry.key, entry.value))) { results.append(item) }
        }
        let next = bounded > 0 && entries.count == bounded ? entries.last?.key : nil
        return ListPage(items: results, next: next)
    }

    /// The current DID document record.
    public func did(_ did: DID) throws(StateError) -> Proven<DIDRecord>? { try proven(DIDRecord.self, StateKey.did(did)) }

    /// The DID record, current or as of `version`, without a proof: for answers that carry
    /// none, where walking the tree for one would be wasted work.
    public func didRecord(_ did: DID, version: UInt64? = nil) throws(StateError) -> DIDRecord? {
        if let version, let bytes = try backend.value(forKey: StateKey.didVersion(did, version)) {
            return try Self.decodeDIDRecord(bytes)
        }
        // The current version lives under `did/d` (from format version 2, there alone).
        guard let bytes = try backend.value(forKey: StateKey.did(did)) else { return nil }
        let current = try Self.decodeDIDRecord(bytes)
        guard version == nil || version == current.version else { return nil }
        return current
    }

    private static func decodeDIDRecord(_ bytes: [UInt8]) throws(StateError) -> DIDRecord {
        do throws(FormatError) { return try DIDRecord(canonicalBytes: bytes) } catch {
            throw StateError(.corrupt, "state entry does not decode as DIDRecord: \(error.message)")
        }
    }

    /// The DID document as of `version`, proven under its history key, or under `did/d` when
    /// it is the current version and the chain's history keeps superseded versions only.
    public func did(_ did: DID, version: UInt64) throws(StateError) -> Proven<DIDRecord>? {
        if let historic = try proven(DIDRecord.self, StateKey.didVersion(did, version)) { return historic }
        guard let current = try proven(DIDRecord.self, StateKey.did(did)), current.record.version == version else {
            return nil
        }
        return current
    }

    /// Every version of a DID document, oldest first (at most `limit`): the history entries,
    /// then the current version when the history does not hold it.
    public func didHistory(_ did: DID, limit: Int = listLimitMax) throws(StateError) -> [Proven<DIDRecord>] {
        let bounded = min(max(limit, 0), Self.listLimitMax)
        var versions = try list(DIDRecord.self, prefix: StateKey.didVersionPrefix(did), limit: bounded) { $0.0 }.items
        guard versions.count < bounded, let current = try self.did(did),
            current.record.version > versions.last?.record.version ?? 0
        else { return versions }
        versions.append(current)
        return versions
    }

    /// The DID document as it stood after block `height`: its latest version made at or before it.
    public func did(_ did: DID, atHeight height: UInt64) throws(StateError) -> DIDRecord? {
        try didHistory(did).map(\.record).last { $0.updatedHeight <= height }
    }

    /// A consent by id.
    public func consent(_ id: Hash) throws(StateError) -> Proven<ConsentRecord>? {
        try proven(ConsentRecord.self, StateKey.consent(id))
    }

    /// A consent request by id.
    public func consentRequest(_ id: Hash) throws(StateError) -> Proven<ConsentRequestRecord>? {
        try proven(ConsentRequestRecord.self, StateKey.consentRequest(id))
    }

    /// The consents a subject granted, ordered by id.
    public func consents(subject: DID, limit: Int = listLimitMax) throws(StateError) -> [Proven<ConsentRecord>] {
        try consentPage(subject: subject, limit: limit).items
    }

    /// One page of a subject's consents, ordered by id, after the cursor `after` (a page's `next`).
    public func consentPage(subject: DID, after: [UInt8]? = nil, limit: Int = listLimitMax) throws(StateError)
        -> ListPage<ConsentRecord>
    {
        try consentPage(prefix: StateKey.consentBySubjectPrefix(subject), after: after, limit: limit)
    }

    /// The consents granted to a consumer, ordered by id.
    public func consents(consumer: DID, limit: Int = listLimitMax) throws(StateError) -> [Proven<ConsentRecord>] {
        try consentPage(consumer: consumer, limit: limit).items
    }

    /// One page of the consents granted to a consumer, ordered by id, after the cursor `after`.
    public func consentPage(consumer: DID, after: [UInt8]? = nil, limit: Int = listLimitMax) throws(StateError)
        -> ListPage<ConsentRecord>
    {
        try consentPage(prefix: StateKey.consentByConsumerPrefix(consumer), after: after, limit: limit)
    }

    private func consentPage(prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> ListPage<ConsentRecord> {
        try list(ConsentRecord.self, prefix: prefix, after: after, limit: limit) {
            (entry: ([UInt8], [UInt8])) throws(StateError) in
            StateKey.consent(try Self.trailingHash(entry.0, prefix))
        }
    }

    private static func trailingHash(_ key: [UInt8], _ prefix: [UInt8]) throws(StateError) -> Hash {
        do throws(FormatError) { return try Hash(Array(key.dropFirst(prefix.count))) } catch {
            throw StateError(.corrupt, "index key does not end in a 32-byte id")
        }
    }

    /// A subject's access log, oldest first, with the proven count that shows the log is complete.
    public func accessLog(subject: DID, limit: Int = listLimitMax) throws(StateError) -> (
        entries: [Proven<AccessLogEntry>], count: StateProof
    ) {
        let page = try accessLogPage(subject: subject, limit: limit)
        return (page.entries.items, page.count)
    }

    /// One page of a subject's access log, oldest first, after the cursor `after` (a page's
    /// `next`), with the proof of the log's count.
    public func accessLogPage(subject: DID, after: [UInt8]? = nil, limit: Int = listLimitMax) throws(StateError) -> (
        entries: ListPage<AccessLogEntry>, count: StateProof
    ) {
        let page = try list(AccessLogEntry.self, prefix: StateKey.accessPrefix(subject), after: after, limit: limit) { $0.0 }
        return (page, try proof(forKey: StateKey.accessCount(subject)))
    }

    /// A DID's credit balance (0 when it holds none), with the proof of its entry or absence.
    public func balance(_ did: DID) throws(StateError) -> (credits: UInt64, proof: StateProof) {
        let proof = try proof(forKey: StateKey.balance(did))
        let credits: UInt64
        if let bytes = proof.value {
            do throws(FormatError) { credits = try AmountRecord(canonicalBytes: bytes).value } catch {
                throw StateError(.corrupt, "balance entry does not decode: \(error.message)")
            }
        } else {
            credits = 0
        }
        return (credits, proof)
    }

    /// An offer by id.
    public func offer(_ id: Hash) throws(StateError) -> Proven<OfferRecord>? { try proven(OfferRecord.self, StateKey.offer(id)) }

    /// Offers, ordered by id.
    public func offers(limit: Int = listLimitMax) throws(StateError) -> [Proven<OfferRecord>] {
        try offerPage(limit: limit).items
    }

    /// One page of the offers, ordered by id, after the cursor `after` (a page's `next`).
    public func offerPage(after: [UInt8]? = nil, limit: Int = listLimitMax) throws(StateError) -> ListPage<OfferRecord> {
        try list(OfferRecord.self, prefix: StateKey.offerPrefix, after: after, limit: limit) { $0.0 }
    }

    /// An order by id.
    public func order(_ id: Hash) throws(StateError) -> Proven<OrderRecord>? { try proven(OrderRecord.self, StateKey.order(id)) }

    /// Orders, ordered by id.
    public func orders(limit: Int = listLimitMax) throws(StateError) -> [Proven<OrderRecord>] {
        try list(OrderRecord.self, prefix: StateKey.orderPrefix, limit: limit) { $0.0 }.items
    }

    /// A registered organization.
    public func organization(_ did: DID) throws(StateError) -> Proven<OrganizationRecord>? {
        try proven(OrganizationRecord.self, StateKey.organization(did))
    }

    /// Where and with which result a transaction was executed.
    public func transaction(_ hash: Hash) throws(StateError) -> Proven<TransactionOutcomeRecord>? {
        try proven(TransactionOutcomeRecord.self, StateKey.transaction(hash))
    }

    /// The signer's next nonce.
    public func nextNonce(_ signer: PublicKey) throws(StateError) -> UInt64 {
        guard let bytes = try backend.value(forKey: StateKey.account(signer)) else { return 1 }
        do throws(FormatError) { return try AccountRecord(canonicalBytes: bytes).nonce + 1 } catch {
            throw StateError(.corrupt, "account entry does not decode: \(error.message)")
        }
    }
}
