import SocaiCore

/// Buffered writes over a backend during one block: reads see earlier writes of the block;
/// each transaction's writes are kept apart until it succeeds, so a failed transaction
/// leaves no trace but its nonce.
final class StateOverlay {
    private let backend: any StateBackend
    private var blockWrites: [StateKeyBytes: [UInt8]?] = [:]
    private var transactionWrites: [StateKeyBytes: [UInt8]?] = [:]

    /// An overlay over `backend` for about `keysExpected` written keys: its dictionaries are
    /// sized up front, since one is made for every block executed and every transaction a
    /// mempool checks, and growing them one doubling at a time rehashed every key each time.
    init(backend: any StateBackend, keysExpected: Int = 0) {
        self.backend = backend
        blockWrites.reserveCapacity(min(keysExpected, Self.keysReservedMax))
        transactionWrites.reserveCapacity(Self.transactionKeysReserved)
    }

    /// Keys reserved for one transaction's writes: more than most rules write.
    static let transactionKeysReserved = 8
    /// Most keys reserved for a block's writes.
    static let keysReservedMax = 1 << 16

    func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? {
        let wrapped = StateKeyBytes(key)
        if let pending = transactionWrites[wrapped] { return pending }
        if let pending = blockWrites[wrapped] { return pending }
        return try backend.value(forKey: key)
    }

    func set(_ key: [UInt8], _ value: [UInt8]) { transactionWrites[StateKeyBytes(key)] = .some(value) }
    func delete(_ key: [UInt8]) { transactionWrites[StateKeyBytes(key)] = .some(nil) }

    /// Reads and decodes a record; a stored value that does not decode means corrupt state.
    /// A value this block wrote is decoded here; a committed one comes from the backend,
    /// which may hold it decoded already.
    func record<Record: StateRecord>(_ type: Record.Type, _ key: [UInt8]) throws(StateError) -> Record? {
        let wrapped = StateKeyBytes(key)
        if let pending = transactionWrites[wrapped] ?? blockWrites[wrapped] {
            guard let bytes = pending else { return nil }
            return try StateRecordDecoding.decode(Record.self, bytes, key: key)
        }
        return try backend.record(Record.self, forKey: key)
    }

    func put<Record: StateRecord>(_ key: [UInt8], _ record: Record) { set(key, record.canonicalBytes) }

    /// Writes `record` under each of `keys`, encoded once: a DID document is kept both as the
    /// current document and as its version's entry, and encoding it twice was a tenth of
    /// executing a DID creation.
    func put<Record: StateRecord>(_ record: Record, under keys: [UInt8]...) {
        let bytes = record.canonicalBytes
        for key in keys { set(key, bytes) }
    }

    func commitTransaction() {
        for (key, value) in transactionWrites { blockWrites[key] = value }
        transactionWrites.removeAll(keepingCapacity: true)
    }

    func discardTransaction() { transactionWrites.removeAll(keepingCapacity: true) }

    /// Applies the block's writes to the state tree, whose new nodes are to be stored at
    /// `version` (the height the block or genesis writes).
    ///
    /// The writes are sorted once, by tree key (`StateKey.treeKey`): dictionary order never
    /// reaches hashed data. The tree update takes its changes in that order, and the store
    /// finds each new leaf's value in it. Sorting by key bytes first, as this did before,
    /// and then by tree key in the update cost two sorts, the first comparing variable-length
    /// keys one byte at a time.
    func finish(version: UInt64) throws(StateError) -> StateChanges {
        precondition(transactionWrites.isEmpty, "a transaction was neither committed nor discarded")
        var writes = blockWrites.map { (treeKey: StateKey.treeKey($0.key.bytes), key: $0.key.bytes, value: $0.value) }
        writes.sort { $0.treeKey < $1.treeKey }
        let values = writes.map { StateEntryChange(key: $0.key, value: $0.value) }
        let changes = writes.map { SparseMerkleChange(key: $0.treeKey, valueHash: $0.value.map(StateKey.treeValue)) }
        let update: SparseMerkleUpdate
        if let own = try backend.updatedTree(changes, version: version) {
            update = own
        } else {
            update = try SparseMerkleTree(root: backend.stateRootReference, nodes: backend.treeNodes).updating(
                changes, version: version)
        }
        return StateChanges(values: values, tree: update, treeKeys: changes.map(\.key))
    }
}
