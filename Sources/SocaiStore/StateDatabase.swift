import SocaiCore
import SocaiState
import Synchronization

/// The ledger state in the node's SQLite file: every value each state key has held, every
/// state-tree node ever written (so older roots stay provable) and the state root of every
/// height. It shares the block store's connection, so a block and its state change are
/// written in one SQLite transaction.
///
/// Values are kept beside their leaves (schema 5): each value a block writes goes in
/// `state_values` under the location of the tree leaf that binds it, so a block's values,
/// like its nodes, are appended at the end of their table. A key's value is found by
/// walking the tree to its leaf. Only the keys some query lists in key order
/// (`StateKey.isListed`) are also kept in the `state` table, keyed by key. Keeping every
/// key there (schema 4) put each write on a random page of a table that grows with the
/// state, and every block rewrote one 4 KiB page per write in the log and again at the
/// checkpoint: at 54,000 identities, 15 of the 18 KB a DID creation wrote, and 20 of the
/// 31 µs of processor time storing it took.
///
/// Tree nodes are stored by location (`SparseMerkleNodeLocation`: the height that wrote them
/// and their ordinal in that block's update), `nodesPerPage` to a row, and an internal node
/// names its children's locations. A block's new nodes thus fill a few rows appended at the
/// end of the table. Keyed by hash, one node per row, as in schema 1, they landed on about 20 different
/// pages per transaction, and writing those pages to the WAL cost more than checking the
/// transaction's signature.
public final class StateDatabase: StateBackend, SparseMerkleNodeSource {
    private let connection: SQLiteConnection
    /// Whether values are kept beside their leaves (`state_values`, schema 5). False only for
    /// a reader of a schema-4 store, which it leaves as it is: every value is then read from
    /// the `state` table, which holds every key, and the store is never written.
    let valuesBesideLeaves: Bool
    /// Height whose state this is (the block store's tip once state is initialized).
    public private(set) var height: UInt64?
    /// The current state root.
    public private(set) var stateRoot: Hash
    /// Where the current root's node is stored.
    public private(set) var stateRootLocation: UInt64
    /// Tree nodes already checked: written by this process or read back and checked. Every
    /// update walks the top of the tree, so most of its reads hit here instead of SQLite
    /// and SHA-256. Locked because queries may read while a block executes.
    private let checkedNodes = Mutex(CheckedNodeCache())
    /// Committed values recently read (see `StateValueCache`). Not locked: this class is not
    /// `Sendable`, so the compiler keeps each instance within one isolation domain (a node's
    /// actor, or a command's one thread).
    private var cachedValues = StateValueCache()
    /// The keys of the values table (`state_values`, or `state` in a schema-4 store) as a
    /// Bloom filter (see `StateKeyFilter`), so that a read of an absent key skips the tree
    /// and SQLite. Built from the table on the first read that misses the
    /// value cache, updated by each commit, and rebuilt, larger, once it holds more keys than
    /// it was sized for. Nil until built, and for good once the state outgrows
    /// `StateKeyFilter.keysMax` keys (`keyFilterRetired`).
    private var keyFilter: StateKeyFilter?
    private var keyFilterRetired = false
    /// Keys the first filter is sized for, at least: internal so that a test can start small
    /// and watch it grow.
    var keyFilterKeysInitial = StateKeyFilter.keysInitialDefault
    /// Entries the value cache holds: for tests.
    var cachedValueCount: Int { cachedValues.count }
    /// Keys the current key filter is sized for (nil: none built): for tests.
    var keyFilterCapacity: Int? { keyFilter?.keysCapacity }
    /// The changes `write` put in the open SQLite transaction, for the caches to take once
    /// `didCommit` reports that transaction committed.
    private var uncommittedChanges: (height: UInt64, changes: StateChanges)?

    /// Nodes per row of `state_node_pages` in this store: recorded in its `meta` table under
    /// `nodesPerPageMetaKey`, and `legacyNodesPerPage` in a store from before that record.
    /// Always a power of two that divides 2^28, so that a row never spans two versions.
    let nodesPerPage: UInt64
    /// Nodes per row in the stores schema 2 and 3 wrote (and a schema-1 migration writes): 32
    /// entries of 81 bytes, 2,592 bytes, which fill 63% of a 4 KiB SQLite page.
    static let legacyNodesPerPage: UInt64 = 32
    /// Nodes per row in a store created now: 64 entries, 5,184 bytes. SQLite keeps 1,092 of
    /// them in the row's leaf page and the other 4,092 in one overflow page, which they
    /// fill exactly, so a block's nodes take a third fewer pages to write, log and copy back
    /// than at 32 (1,336 against 2,007 pages for 64,000 nodes).
    static let nodesPerPageForNewStores: UInt64 = 64
    /// The `meta` key recording a store's nodes per row, as a `u64`.
    static let nodesPerPageMetaKey = "state_nodes_per_page"
    /// Bytes of one entry in a row: the node's 65 bytes, then its left and right children's
    /// locations as 8-byte big-endian integers (0 for an empty child, and both 0 for a leaf).
    static let pageEntryBytes = SparseMerkleNode.byteCount + 16

    /// The columns of `state_node_pages`: row `page` holds, in order, the nodes at locations
    /// `page × n` to `page × n + n − 1` that exist, `n` being the store's `nodesPerPage` (an
    /// update's ordinals have no gaps, so only its last row is short). No CHECK constraints:
    /// `write` checks every entry before writing it, and the tree hashes and decodes every
    /// node it reads back.
    static let stateNodePagesColumns = """
        (page INTEGER PRIMARY KEY, nodes BLOB NOT NULL);
        """
    /// The columns of `state_roots`: each height's root and where its node is stored.
    static let stateRootsColumns = """
        (
            height INTEGER PRIMARY KEY CHECK (height >= 0),
            root BLOB NOT NULL CHECK (length(root) = 32),
            root_location INTEGER NOT NULL CHECK (root_location >= 0)
        );
        """

    /// The columns of `transaction_results` (schema 3): each recorded transaction's result,
    /// keyed by where it is in the chain. A block's rows take increasing keys, so SQLite
    /// appends them at the end of the table; keyed by transaction hash (schema 2), each row
    /// went to a random page, and every block rewrote one more page per transaction in the
    /// write-ahead log. The hash finds the row through the transaction's outcome record in
    /// the state (`tx/<hash>`), which names its height and position.
    static let transactionResultsColumns = """
        (
            height INTEGER NOT NULL CHECK (height >= 1),
            position INTEGER NOT NULL CHECK (position >= 0),
            code INTEGER NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (height, position)
        ) WITHOUT ROWID;
        """

    /// The columns of `state_values` (schema 5): each value a block wrote, under the location
    /// of the leaf that binds it, with its key. Rows are never changed or removed: an older
    /// root's leaves find their values here as the current root's do.
    static let stateValuesColumns = """
        (location INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL);
        """

    init(connection: SQLiteConnection) throws(StoreError) {
        self.connection = connection
        resultsKeyedByHash = try Self.hasResultsKeyedByHash(connection)
        nodesPerPage = try Self.recordedNodesPerPage(connection) ?? Self.legacyNodesPerPage
        // A new file gets the values table; an existing one has it once migrated to schema 5,
        // and a reader of a schema-4 store must not add it (it would then read no value).
        let isNew = try !Self.hasTable("state", connection)
        if isNew { try connection.execute("CREATE TABLE state_values\(Self.stateValuesColumns)") }
        let hasValuesTable = try Self.hasTable("state_values", connection)
        valuesBesideLeaves = isNew || hasValuesTable
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS state(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS state_node_pages\(Self.stateNodePagesColumns)
            CREATE TABLE IF NOT EXISTS state_roots\(Self.stateRootsColumns)
            CREATE TABLE IF NOT EXISTS transaction_results\(Self.transactionResultsColumns)
            """)
        let select = try connection.cached("SELECT height, root, root_location FROM state_roots ORDER BY height DESC LIMIT 1")
        try select.bind([])
        if try select.step() {
            height = UInt64(select.integer(0))
            do throws(FormatError) { stateRoot = try Hash(select.blob(1)) } catch {
                throw StoreError(.corrupt, "\(connection.path): a stored state root is not 32 bytes")
            }
            guard select.integer(2) >= 0 else {
                throw StoreError(.corrupt, "\(connection.path): a stored state root has a negative location")
            }
            stateRootLocation = UInt64(select.integer(2))
        } else {
            height = nil
            stateRoot = .zero
            stateRootLocation = 0
        }
    }

    /// The tree nodes: this database.
    public var treeNodes: any SparseMerkleNodeSource { self }

    /// The value under `key`: from the cache of committed values, or else read from SQLite
    /// and cached.
    public func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? { try cachedEntry(key).bytes }

    /// The record under `key`, decoded once while its value stands: the DID documents and
    /// accounts a transaction's rules read were often read, and decoded, by its admission.
    public func record<Record: StateRecord>(_ type: Record.Type, forKey key: [UInt8]) throws(StateError) -> Record? {
        try cachedEntry(key).record(Record.self, key: key)
    }

    /// The cached entry of `key`, read from SQLite and cached first if need be; a fresh,
    /// uncached entry of absence when the key filter shows the state does not hold the key.
    ///
    /// Why the filter comes first and absence is not cached: most keys admission and
    /// execution read do not exist yet (a new identity's DID and nonce, the transaction's
    /// outcome). The filter rules each out in one probe of one cache line, where the value
    /// cache took two dictionary probes, then an insertion, then an update when the block
    /// that wrote the key committed: about 5% of a saturated validator's processor time.
    private func cachedEntry(_ key: [UInt8]) throws(StateError) -> StateValueCache.Entry {
        if let filter = try currentKeyFilter(), !filter.mayContain(key) { return StateValueCache.Entry(nil) }
        if let entry = cachedValues.entry(key) { return entry }
        return cachedValues.insert(key, try storedValue(forKey: key, filtered: true))
    }

    /// The value under `key` in SQLite; nil without a read when the key filter shows the
    /// state does not hold it (`filtered`: the caller asked the filter already).
    private func storedValue(forKey key: [UInt8], filtered: Bool = false) throws(StateError) -> [UInt8]? {
        if !filtered, let filter = try currentKeyFilter(), !filter.mayContain(key) { return nil }
        guard valuesBesideLeaves else { return try legacyStoredValue(forKey: key) }
        let tree = SparseMerkleTree(root: stateRootReference, nodes: self)
        guard let leaf = try tree.leaf(for: StateKey.treeKey(key)) else { return nil }
        return try value(at: leaf.location, key: key, valueHash: leaf.valueHash)
    }

    /// The value stored beside the leaf at `location`, checked right after it is read: the row
    /// must name `key` and its value must hash to the leaf's `valueHash`.
    private func value(at location: UInt64, key: [UInt8], valueHash: Hash) throws(StateError) -> [UInt8] {
        let stored = try storedValueRow(at: location)
        guard stored.key == key else {
            throw StateError(.corrupt, "the value beside the leaf at location \(location) is not stored under the key looked up")
        }
        guard StateKey.treeValue(stored.value) == valueHash else {
            throw StateError(.corrupt, "the value beside the leaf at location \(location) does not hash to the leaf's value hash")
        }
        return stored.value
    }

    /// The `state_values` row at `location`; a missing row is a corrupt store, since only a
    /// leaf's location is ever looked up.
    private func storedValueRow(at location: UInt64) throws(StateError) -> (key: [UInt8], value: [UInt8]) {
        let stored: (key: [UInt8], value: [UInt8])?
        do throws(StoreError) {
            let select = try connection.cached("SELECT key, value FROM state_values WHERE location = ?")
            guard let row = Int64(exactly: location) else { throw StoreError(.corrupt, "leaf location \(location) past any row") }
            try select.bind([.integer(row)])
            stored = try select.step() ? (select.blob(0), select.blob(1)) : nil
            select.reset()
        } catch {
            throw StateError(error.code == .corrupt ? .corrupt : .storage, error.message)
        }
        guard let stored else {
            throw StateError(.corrupt, "no value is stored beside the leaf at location \(location)")
        }
        return stored
    }

    /// Up to `limit` entries of the current state in ascending tree-key order, after the tree
    /// key `after` (from the first when nil), with the tree key of the last one to continue
    /// from: the whole state, read in pages, as an auditor compares it with a replay. Each
    /// value is read beside its leaf and checked: its key must hash to the leaf's key and
    /// its value to the leaf's value hash. Schema 5 only.
    public func leafEntries(after: Hash?, limit: Int) throws(StateError) -> (
        entries: [(key: [UInt8], value: [UInt8])], last: Hash?
    ) {
        precondition(valuesBesideLeaves, "a schema-4 store keeps no values beside leaves")
        let leaves = try SparseMerkleTree(root: stateRootReference, nodes: self).leaves(after: after, limit: limit)
        var entries: [(key: [UInt8], value: [UInt8])] = []
        entries.reserveCapacity(leaves.count)
        for leaf in leaves {
            let stored = try storedValueRow(at: leaf.location)
            guard StateKey.treeKey(stored.key) == leaf.key, StateKey.treeValue(stored.value) == leaf.valueHash else {
                throw StateError(.corrupt, "the value beside the leaf at location \(leaf.location) is not the leaf's")
            }
            entries.append(stored)
        }
        return (entries, leaves.last?.key)
    }

    /// A schema-4 store's value under `key`, from the `state` table.
    private func legacyStoredValue(forKey key: [UInt8]) throws(StateError) -> [UInt8]? {
        do throws(StoreError) {
            let select = try connection.cached("SELECT value FROM state WHERE key = ?")
            try select.bind([.blob(key)])
            return try select.step() ? select.blob(0) : nil
        } catch {
            throw StateError(.storage, error.message)
        }
    }

    /// The key filter, built from the values table first if there is none: sized for twice
    /// its rows (at least `keyFilterKeysInitial`), so it takes as many again before the next
    /// rebuild. Nil once the table holds too many rows for a filter: in a schema-5 store the
    /// rows count every value each key held, so that is 2^25 values written, not keys.
    private func currentKeyFilter() throws(StateError) -> StateKeyFilter? {
        if let keyFilter { return keyFilter }
        guard !keyFilterRetired else { return nil }
        do throws(StoreError) {
            // Every value a schema-5 store ever held is a row of `state_values`, so its keys
            // include every current key (and keys since deleted, which cost only a read).
            let table = valuesBesideLeaves ? "state_values" : "state"
            let count = try connection.cached("SELECT count(*) FROM \(table)")
            try count.bind([])
            let keys = try count.step() ? Int(count.integer(0)) : 0
            count.reset()
            guard keys <= StateKeyFilter.keysMax / 2 else {
                keyFilterRetired = true
                return nil
            }
            var filter = StateKeyFilter(keysCapacity: min(StateKeyFilter.keysMax, max(keyFilterKeysInitial, 2 * keys)))
            let select = try connection.cached("SELECT key FROM \(table)")
            try select.bind([])
            // Every key the scan meets goes in, however many there are: this process writes
            // the table only in commits, which feed the filter themselves, and a filter with
            // more keys than it was sized for is only rebuilt sooner.
            while try select.step() { filter.insert(select.blob(0)) }
            // Left mid-result, a statement would keep its read transaction open.
            select.reset()
            keyFilter = filter
            return filter
        } catch {
            throw StateError(.storage, error.message)
        }
    }

    /// Entries under `prefix`, ascending, after `after`. In a schema-5 store the `state`
    /// table holds only the listed keys, so `prefix` must lie within one of
    /// `StateKey.listedPrefixes`; the whole state is read with `leafEntries(after:limit:)`.
    public func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
        key: [UInt8], value: [UInt8]
    )] {
        precondition(
            !valuesBesideLeaves || StateKey.isListed(prefix),
            "entries listed under a prefix that the state table does not keep in key order")
        do throws(StoreError) {
            // Keys compare as BLOBs (memcmp), so a prefix is the range [prefix, prefix + 0xff…).
            let select = try connection.cached("SELECT key, value FROM state WHERE key >= ? AND key > ? ORDER BY key LIMIT ?")
            let lowerExclusive = after ?? []
            try select.bind([.blob(prefix), .blob(lowerExclusive), .integer(Int64(max(0, limit)))])
            var results: [(key: [UInt8], value: [UInt8])] = []
            while try select.step() {
                let key = select.blob(0)
                guard key.starts(with: prefix) else { break }
                results.append((key, select.blob(1)))
            }
            return results
        } catch {
            throw StateError(.storage, error.message)
        }
    }

    /// The node `reference` names, from the cache or else read from SQLite and checked (its
    /// bytes hash to its hash and decode as a node) before it is cached. Nil when it is
    /// missing or fails the check: the tree then reads it through `node(_:)` and reports
    /// exactly what is wrong.
    ///
    /// The cache holds only nodes of committed blocks (see `CheckedNodeCache`).
    public func checkedNode(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode? {
        if let node = checkedNodes.withLock({ $0.node(reference) }) { return node }
        guard let stored = try? node(reference), let checked = try? stored.checked(as: reference.hash) else { return nil }
        checkedNodes.withLock { $0.insert(checked, hash: reference.hash) }
        return checked
    }

    /// A node list the checked-node cache let go of, emptied, for the next tree update to
    /// fill (see `CheckedNodeCache.takeReusableList`).
    public func reusableNodeList(capacity: Int) -> [SparseMerkleNodeEntry] {
        checkedNodes.withLock { $0.takeReusableList(capacity: capacity) }
    }

    /// The bytes of the tree node `reference` names, with its children's locations (the tree
    /// checks the bytes against the hash).
    public func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes? {
        do throws(StoreError) {
            // No row can sit above SQLite's largest rowid.
            guard let page = Int64(exactly: reference.location / nodesPerPage) else { return nil }
            let offset = Int64(reference.location % nodesPerPage) * Int64(Self.pageEntryBytes)
            let select = try connection.cached("SELECT substr(nodes, ?, ?) FROM state_node_pages WHERE page = ?")
            try select.bind([.integer(offset + 1), .integer(Int64(Self.pageEntryBytes)), .integer(page)])
            guard try select.step() else { return nil }
            let entry = select.blob(0)
            // A row shorter than the slot asked for does not hold that node.
            guard entry.count == Self.pageEntryBytes else { return nil }
            let leftLocation = Self.readLocation(entry, at: SparseMerkleNode.byteCount)
            let rightLocation = Self.readLocation(entry, at: SparseMerkleNode.byteCount + 8)
            guard leftLocation <= UInt64(Int64.max), rightLocation <= UInt64(Int64.max) else {
                throw StoreError(.corrupt, "state tree node \(reference.hash) names a child location past any row")
            }
            return SparseMerkleStoredBytes(
                Array(entry[..<SparseMerkleNode.byteCount]), leftLocation: leftLocation, rightLocation: rightLocation)
        } catch {
            throw StateError(error.code == .corrupt ? .corrupt : .storage, error.message)
        }
    }

    /// The state root recorded for `height`, if any.
    public func stateRoot(atHeight height: UInt64) throws(StoreError) -> Hash? {
        try stateRootReference(atHeight: height)?.hash
    }

    /// The state root recorded for `height` and where its node is stored, if any: for proofs
    /// against an earlier height.
    public func stateRootReference(atHeight height: UInt64) throws(StoreError) -> SparseMerkleNodeReference? {
        let select = try connection.cached("SELECT root, root_location FROM state_roots WHERE height = ?")
        try select.bind([.integer(Int64(height))])
        guard try select.step() else { return nil }
        let location = select.integer(1)
        guard location >= 0 else { throw StoreError(.corrupt, "the state root of height \(height) has a negative location") }
        do throws(FormatError) {
            return SparseMerkleNodeReference(hash: try Hash(select.blob(0)), location: UInt64(location))
        } catch {
            throw StoreError(.corrupt, "the state root of height \(height) is not 32 bytes")
        }
    }

    /// A transaction's recorded result: where it is in the chain, its code and its message.
    public typealias StoredTransactionResult = (height: UInt64, position: UInt32, code: UInt16, message: String)

    /// The recorded outcome of a transaction: height, position, code and message. The
    /// state's outcome record (`tx/<hash>`) says where the transaction is; the result row
    /// there adds the code and message. Both are written in the block's one SQLite
    /// transaction, so a record without its row is a corrupt store.
    public func transactionResult(_ hash: Hash) throws(StoreError) -> StoredTransactionResult? {
        if resultsKeyedByHash { return try transactionResultKeyedByHash(hash) }
        // Read past the value cache: a lookup of a hash never committed (any API client can
        // ask for one) must not push the records execution reads out of it.
        let key = StateKey.transaction(hash)
        let outcome: TransactionOutcomeRecord?
        do throws(StateError) {
            outcome = try storedValue(forKey: key).map { bytes throws(StateError) in
                try StateRecordDecoding.decode(TransactionOutcomeRecord.self, bytes, key: key)
            }
        } catch {
            throw StoreError(
                error.code == .corrupt ? .corrupt : .database,
                "the outcome record of transaction \(hash) cannot be read: \(error.message)")
        }
        guard let outcome else { return nil }
        let select = try connection.cached("SELECT code, message FROM transaction_results WHERE height = ? AND position = ?")
        try select.bind([.integer(Int64(outcome.height)), .integer(Int64(outcome.index))])
        guard try select.step() else {
            throw StoreError(
                .corrupt,
                "transaction \(hash) is recorded at height \(outcome.height), position \(outcome.index), but no result is stored there"
            )
        }
        // The row's code, as recorded beside its message; the outcome record's own code is
        // part of the state, which its root covers. An auditor compares both with a replay.
        guard let code = UInt16(exactly: select.integer(0)) else {
            throw StoreError(.corrupt, "transaction \(hash): the stored result code \(select.integer(0)) is out of range")
        }
        return (outcome.height, outcome.index, code, select.text(1))
    }

    /// Whether this store's `transaction_results` is schema 2's, keyed by transaction hash: a
    /// store read without being migrated (an auditor's `StoredChainReader`, or a reader of a
    /// running node's schema-2 store) looks its results up by hash, as that schema did,
    /// instead of scanning an unindexed table for each (height, position).
    let resultsKeyedByHash: Bool

    /// The schema-2 lookup; see `resultsKeyedByHash`.
    private func transactionResultKeyedByHash(_ hash: Hash) throws(StoreError) -> StoredTransactionResult? {
        let select = try connection.cached("SELECT height, position, code, message FROM transaction_results WHERE hash = ?")
        try select.bind([.blob(hash.bytes)])
        guard try select.step() else { return nil }
        guard let position = UInt32(exactly: select.integer(1)), let code = UInt16(exactly: select.integer(2)),
            select.integer(0) >= 1
        else {
            throw StoreError(.corrupt, "transaction \(hash): its stored result is out of range")
        }
        return (UInt64(select.integer(0)), position, code, select.text(3))
    }

    /// Writes a change set for `height` inside the caller's SQLite transaction.
    func write(_ changes: StateChanges, height: UInt64, outcomes: [TransactionOutcome]) throws(StoreError) {
        precondition(!resultsKeyedByHash, "a schema-2 store read without migrating it is written to")
        precondition(valuesBesideLeaves, "a schema-4 store read without migrating it is written to")
        precondition(changes.tree.version == height, "state changes made for height \(changes.tree.version) written at \(height)")
        precondition(
            SparseMerkleNodeLocation.version(of: changes.tree.rootLocation) <= height, "a state root stored above its own height")
        // Held until `didCommit`: should this transaction roll back, the next write replaces it.
        uncommittedChanges = (height, changes)
        let upsert = try connection.cached(
            "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        let delete = try connection.cached("DELETE FROM state WHERE key = ?")
        for change in changes.values where StateKey.isListed(change.key) {
            if let value = change.value {
                try upsert.run([.blob(change.key), .blob(value)])
            } else {
                try delete.run([.blob(change.key)])
            }
        }
        try writeNodes(changes.treeNodes, height: height)
        try writeValues(changes)
        try connection.cached("INSERT INTO state_roots(height, root, root_location) VALUES (?, ?, ?)").run([
            .integer(Int64(height)), .blob(changes.stateRoot.bytes), .integer(Int64(changes.tree.rootLocation)),
        ])
        let insertResult = try connection.cached(
            "INSERT INTO transaction_results(height, position, code, message) VALUES (?, ?, ?, ?)")
        for (position, outcome) in outcomes.enumerated() where outcome.code.consumesNonce || outcome.code == .ok {
            // Exactly the transactions that leave an outcome record in the state (`tx/<hash>`),
            // through which `transactionResult` finds this row: those that consumed a nonce.
            try insertResult.run([
                .integer(Int64(height)), .integer(Int64(position)), .integer(Int64(outcome.code.rawValue)),
                .text(outcome.message),
            ])
        }
    }

    /// Writes a block's new tree nodes, `nodesPerPage` to a row, in the order the update made
    /// them: their ordinals run 0, 1, 2, … at this height, so the rows take increasing keys and
    /// SQLite appends each at the end of the table without searching for its place.
    private func writeNodes(_ nodes: [SparseMerkleNodeEntry], height: UInt64) throws(StoreError) {
        let insertPage = try connection.cached("INSERT INTO state_node_pages(page, nodes) VALUES (?, ?)")
        let first = SparseMerkleNodeLocation.location(version: height, ordinal: 0)
        var page: [UInt8] = []
        page.reserveCapacity(Int(nodesPerPage) * Self.pageEntryBytes)
        for (index, entry) in nodes.enumerated() {
            // Checked right before the write, as the tree checks every node it reads back.
            precondition(entry.location == first + UInt64(index), "state-tree nodes out of location order")
            precondition(
                (entry.leftLocation < entry.location || entry.leftLocation == 0)
                    && (entry.rightLocation < entry.location || entry.rightLocation == 0),
                "a state-tree node stored below a child")
            // The entry's hash was computed from this very node value by the tree update, so
            // hashing it again here would repeat that computation on the same immutable value,
            // on every node of every block. The pairing check is on the other side: every node
            // read back is hashed and decoded before use.
            let entryStart = page.count
            entry.node.appendCanonicalBytes(to: &page)
            precondition(page.count - entryStart == SparseMerkleNode.byteCount, "a state-tree node is not 65 bytes")
            Self.appendLocation(entry.leftLocation, to: &page)
            Self.appendLocation(entry.rightLocation, to: &page)
            if UInt64(index + 1) % nodesPerPage == 0 || index == nodes.count - 1 {
                let key = Int64(entry.location / nodesPerPage)
                // The closure rethrows untyped errors, so the store's error is carried out by hand.
                var failure: StoreError?
                page.withUnsafeBytes { bytes in
                    do throws(StoreError) { try insertPage.run(integer: key, blob: bytes) } catch { failure = error }
                }
                if let failure { throw failure }
                page.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Writes each value the block set beside the new leaf that binds it. Every new leaf is
    /// a changed key's (an update makes a leaf only for a key given a new value; a leaf that
    /// moves keeps its location), and a key set to the value it held keeps its old leaf,
    /// whose row already holds that value. The leaves' locations grow in the order the
    /// update made them, so the rows are appended at the end of the table.
    private func writeValues(_ changes: StateChanges) throws(StoreError) {
        // The set keys' indexes, by ascending tree key: `StateChanges.values` comes in that
        // order, which is checked here rather than sorted for again. The update makes its new
        // leaves in ascending tree-key order, so each is found at a cursor that only moves
        // forward; a leaf not at the cursor is looked up by binary search. This replaced a
        // hash table of tree keys, whose building and probing cost about 0.5% of a saturated
        // validator's processor time.
        var setIndexes: [(treeKey: Hash, index: Int)] = []
        setIndexes.reserveCapacity(changes.values.count)
        for (index, treeKey) in changes.treeKeys.enumerated() where changes.values[index].value != nil {
            precondition(
                setIndexes.last.map { $0.treeKey < treeKey } ?? true, "state changes are not in ascending tree-key order")
            setIndexes.append((treeKey, index))
        }
        let insert = try connection.cached("INSERT INTO state_values(location, key, value) VALUES (?, ?, ?)")
        var previousLocation: UInt64?
        var cursor = 0
        for entry in changes.treeNodes {
            guard case .leaf(let treeKey, _) = entry.node else { continue }
            if cursor >= setIndexes.count || setIndexes[cursor].treeKey != treeKey {
                cursor = Self.firstIndex(of: treeKey, in: setIndexes)
            }
            // Checked right before the write: the leaf's key is a changed key's, and the rows
            // go in ascending location order. The value's hash is the one the update just
            // computed from these very bytes; every read hashes it again.
            guard cursor < setIndexes.count, setIndexes[cursor].treeKey == treeKey,
                case let change = changes.values[setIndexes[cursor].index], let value = change.value
            else {
                preconditionFailure("a new state-tree leaf for key \(treeKey), which no change sets")
            }
            precondition(previousLocation.map { $0 < entry.location } ?? true, "state values out of location order")
            previousLocation = entry.location
            try insert.run([.integer(Int64(entry.location)), .blob(change.key), .blob(value)])
            cursor += 1
        }
    }

    /// The index of the first entry of `sorted` (ascending by tree key) whose tree key is not
    /// below `treeKey`; `sorted.count` if there is none.
    private static func firstIndex(of treeKey: Hash, in sorted: [(treeKey: Hash, index: Int)]) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle].treeKey < treeKey { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Appends `location` as 8 big-endian bytes.
    private static func appendLocation(_ location: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: location.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// The 8 big-endian bytes of `bytes` at `offset`, as a location.
    private static func readLocation(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Records the new tip after the enclosing transaction committed, and lets the caches
    /// take what it wrote: only now do SQLite's rows back them.
    func didCommit(height: UInt64) {
        guard let (writtenHeight, changes) = uncommittedChanges, writtenHeight == height else {
            preconditionFailure("state commit reported for height \(height) without its write")
        }
        self.height = height
        stateRoot = changes.stateRoot
        stateRootLocation = changes.tree.rootLocation
        cachedValues.committed(changes.values)
        // Mutated in place through the optional, so its bit array is not copied.
        for change in changes.values where change.value != nil { keyFilter?.insert(change.key) }
        // Rebuilt from the table at the next read that needs it, twice as large.
        if keyFilter?.isOverfull == true { keyFilter = nil }
        checkedNodes.withLock { cache in cache.keep(committed: changes.treeNodes, version: changes.tree.version) }
        uncommittedChanges = nil
    }

    /// Moves a schema-2 store's transaction results, keyed by transaction hash, to the
    /// schema-3 table keyed by height and position, inside the caller's transaction. The
    /// rows keep their values; a store without the table (it is created on first open) has
    /// nothing to move.
    static func migrateTransactionResultsToVersion3(_ connection: SQLiteConnection) throws(StoreError) {
        guard try hasResultsKeyedByHash(connection) else { return }
        try connection.execute(
            """
            ALTER TABLE transaction_results RENAME TO transaction_results_by_hash;
            CREATE TABLE transaction_results\(transactionResultsColumns)
            INSERT INTO transaction_results(height, position, code, message)
                SELECT height, position, code, message FROM transaction_results_by_hash ORDER BY height, position;
            DROP TABLE transaction_results_by_hash;
            """)
    }

    /// The nodes per row the store at `connection` records, or nil when it records none (a
    /// store from before schema 4, which has `legacyNodesPerPage`). A recorded count other
    /// than the two this socai writes means a damaged `meta` table.
    static func recordedNodesPerPage(_ connection: SQLiteConnection) throws(StoreError) -> UInt64? {
        let select = try connection.prepare("SELECT value FROM meta WHERE key = ?")
        try select.bind([.text(nodesPerPageMetaKey)])
        guard try select.step() else { return nil }
        let bytes = select.blob(0)
        select.reset()
        var reader = ByteReader(bytes)
        guard let count = try? reader.readUInt64("nodesPerPage"), reader.remaining == 0,
            count == legacyNodesPerPage || count == nodesPerPageForNewStores
        else {
            throw StoreError(.corrupt, "\(connection.path): meta \(nodesPerPageMetaKey) is not 32 or 64 as a u64")
        }
        return count
    }

    /// Records `count` nodes per row in the store's `meta` table unless a count is recorded,
    /// inside the caller's transaction.
    static func recordNodesPerPage(_ count: UInt64, _ connection: SQLiteConnection) throws(StoreError) {
        precondition(count == legacyNodesPerPage || count == nodesPerPageForNewStores, "nodes per row must be 32 or 64")
        var writer = ByteWriter()
        writer.write(count)
        try connection.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)").run([
            .text(nodesPerPageMetaKey), .blob(writer.bytes),
        ])
    }

    /// Whether the store at `connection` has a table named `name`.
    static func hasTable(_ name: String, _ connection: SQLiteConnection) throws(StoreError) -> Bool {
        let select = try connection.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
        try select.bind([.text(name)])
        return try select.step() && select.integer(0) > 0
    }

    /// Whether the store at `connection` keeps every value in the `state` table alone, as
    /// schemas 1 to 4 did: it has that table and no `state_values`.
    static func needsValuesBesideLeaves(_ connection: SQLiteConnection) throws(StoreError) -> Bool {
        let hasState = try hasTable("state", connection)
        let hasValues = try hasTable("state_values", connection)
        return hasState && !hasValues
    }

    /// Moves a schema-4 store's values beside their leaves (schema 5), inside the caller's
    /// transaction: each current entry of the `state` table is written to `state_values`
    /// under the location of its leaf in the current tree, checked against that leaf, and
    /// the keys no query lists leave the `state` table. The tree is read, not changed; the
    /// nodes and roots of older heights stay as they were. Older roots' leaves that the
    /// current tree no longer holds have no value row: a proof against an older height
    /// needs only nodes, and a value is read at the current root alone.
    static func migrateValuesBesideLeaves(_ connection: SQLiteConnection) throws(StoreError) {
        let needed = try needsValuesBesideLeaves(connection)
        precondition(needed, "values migrated twice")
        // The state as it stands, read as schema 4 reads it: its root, its nodes and its rows.
        let before = try StateDatabase(connection: connection)
        precondition(!before.valuesBesideLeaves)
        try connection.execute("CREATE TABLE state_values\(stateValuesColumns)")
        let tree = SparseMerkleTree(root: before.stateRootReference, nodes: before)
        let select = try connection.prepare("SELECT key, value FROM state")
        try select.bind([])
        let insert = try connection.prepare("INSERT INTO state_values(location, key, value) VALUES (?, ?, ?)")
        var moved = 0
        while try select.step() {
            let key = select.blob(0)
            let value = select.blob(1)
            let leaf: (valueHash: Hash, location: UInt64)?
            do throws(StateError) { leaf = try tree.leaf(for: StateKey.treeKey(key)) } catch {
                throw StoreError(.corrupt, "\(connection.path): the state tree cannot be read: \(error.message)")
            }
            guard let leaf, leaf.valueHash == StateKey.treeValue(value) else {
                throw StoreError(
                    .corrupt,
                    "\(connection.path): the state entry under key hash \(StateKey.treeKey(key)) is not the one the state tree holds"
                )
            }
            try insert.run([.integer(Int64(leaf.location)), .blob(key), .blob(value)])
            moved += 1
        }
        select.reset()
        // Every leaf of the current tree must have found its row: a tree entry the table
        // lacked would otherwise read as absent.
        var leaves = 0
        var after: Hash?
        while true {
            let page: [(key: Hash, valueHash: Hash, location: UInt64)]
            do throws(StateError) { page = try tree.leaves(after: after, limit: 4_096) } catch {
                throw StoreError(.corrupt, "\(connection.path): the state tree cannot be read: \(error.message)")
            }
            leaves += page.count
            guard page.count == 4_096, let last = page.last else { break }
            after = last.key
        }
        guard leaves == moved else {
            throw StoreError(
                .corrupt, "\(connection.path): the state tree holds \(leaves) entries but the state table \(moved)")
        }
        // One statement, not a list of keys held in memory: a key is listed when it lies in
        // [prefix, prefix with its last byte raised by one) for one of the listed prefixes.
        var ranges: [String] = []
        var bounds: [SQLiteValue] = []
        for prefix in StateKey.listedPrefixes {
            guard let last = prefix.last, last < 0xff else { preconditionFailure("a listed prefix must end below 0xff") }
            ranges.append("(key >= ? AND key < ?)")
            bounds += [.blob(prefix), .blob(prefix.dropLast() + [last + 1])]
        }
        try connection.prepare("DELETE FROM state WHERE NOT (\(ranges.joined(separator: " OR ")))").run(bounds)
        let remaining = try connection.prepare("SELECT key FROM state")
        try remaining.bind([])
        while try remaining.step() {
            precondition(StateKey.isListed(remaining.blob(0)), "an unlisted key stayed in the state table")
        }
        remaining.reset()
    }

    /// Whether the store at `connection` keeps schema 2's `transaction_results`, keyed by
    /// transaction hash.
    static func hasResultsKeyedByHash(_ connection: SQLiteConnection) throws(StoreError) -> Bool {
        let select = try connection.prepare(
            "SELECT count(*) FROM pragma_table_info('transaction_results') WHERE name = 'hash'")
        try select.bind([])
        return try select.step() && select.integer(0) > 0
    }

    /// Whether a version-1 store (tree nodes keyed by hash) is at `connection`: it has a
    /// `state_nodes` table, which schema 2 replaced by `state_node_pages`.
    static func hasVersion1Layout(_ connection: SQLiteConnection) throws(StoreError) -> Bool {
        let select = try connection.prepare("SELECT count(*) FROM pragma_table_info('state_nodes') WHERE name = 'hash'")
        try select.bind([])
        return try select.step() && select.integer(0) > 0
    }

    /// Moves a version-1 store's tree nodes to the version-2 layout, inside the caller's
    /// transaction. Every old node is placed at version 0, ordinals in hash order, and each
    /// internal node and each recorded root names where its children and node went: a
    /// version-1 table was one store of nodes by hash, so every root it could read stays
    /// readable. Blocks written afterwards store their nodes at their own heights, above all
    /// of these. A child the old table lacked is named at location 0, where its hash will not
    /// match: the tree reports it as corrupt when a read reaches it, as it did before.
    static func migrateVersion1(_ connection: SQLiteConnection) throws(StoreError) {
        let count = try connection.prepare("SELECT count(*) FROM state_nodes")
        try count.bind([])
        guard try count.step(), UInt64(count.integer(0)) <= SparseMerkleNodeLocation.ordinalsPerVersionMax else {
            throw StoreError(
                .database,
                "\(connection.path): more schema-1 state-tree nodes than one version can place (\(SparseMerkleNodeLocation.ordinalsPerVersionMax))"
            )
        }
        count.reset()
        try connection.execute(
            """
            CREATE TEMP TABLE version1_locations(hash BLOB PRIMARY KEY, location INTEGER NOT NULL) WITHOUT ROWID;
            INSERT INTO version1_locations(hash, location) SELECT hash, row_number() OVER (ORDER BY hash) - 1 FROM state_nodes;
            CREATE TABLE IF NOT EXISTS state_node_pages\(stateNodePagesColumns)
            """)
        // Streamed in location order and written `legacyNodesPerPage` (32) to a row, as
        // `writeNodes` writes a block's in a store that records 32.
        let select = try connection.prepare(
            """
            SELECT placed.location, old.node,
                CASE WHEN substr(old.node, 1, 1) = x'01'
                    THEN coalesce((SELECT location FROM version1_locations WHERE hash = substr(old.node, 2, 32)), 0)
                    ELSE 0 END,
                CASE WHEN substr(old.node, 1, 1) = x'01'
                    THEN coalesce((SELECT location FROM version1_locations WHERE hash = substr(old.node, 34, 32)), 0)
                    ELSE 0 END
            FROM state_nodes AS old JOIN version1_locations AS placed ON placed.hash = old.hash
            ORDER BY placed.location
            """)
        try select.bind([])
        let insertPage = try connection.prepare("INSERT INTO state_node_pages(page, nodes) VALUES (?, ?)")
        var page: [UInt8] = []
        var pageKey: Int64 = 0
        while try select.step() {
            let location = UInt64(select.integer(0))
            if location / legacyNodesPerPage != UInt64(pageKey), !page.isEmpty {
                try insertPage.run([.integer(pageKey), .blob(page)])
                page.removeAll(keepingCapacity: true)
            }
            pageKey = Int64(location / legacyNodesPerPage)
            let node = select.blob(1)
            // A schema-1 row of the wrong length becomes 65 zero bytes, which hash to no node's
            // hash: the tree reports it as corrupt when a read reaches it, as it did before.
            page.append(contentsOf: node.count == SparseMerkleNode.byteCount ? node : [UInt8](repeating: 0, count: 65))
            appendLocation(UInt64(max(0, select.integer(2))), to: &page)
            appendLocation(UInt64(max(0, select.integer(3))), to: &page)
        }
        select.reset()
        if !page.isEmpty { try insertPage.run([.integer(pageKey), .blob(page)]) }
        try connection.execute(
            """
            DROP TABLE state_nodes;
            ALTER TABLE state_roots RENAME TO state_roots_version1;
            CREATE TABLE state_roots\(stateRootsColumns)
            INSERT INTO state_roots(height, root, root_location)
                SELECT height, root, coalesce((SELECT location FROM version1_locations WHERE hash = root), 0)
                FROM state_roots_version1;
            DROP TABLE state_roots_version1;
            DROP TABLE temp.version1_locations;
            """)
    }
}
