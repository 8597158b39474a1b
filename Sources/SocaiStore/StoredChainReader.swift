import SocaiCore
import SocaiState

/// Raw, unchecked read access to a block store file, for an auditor who trusts nothing in it.
///
/// `BlockStore` refuses to open a store whose tip disagrees with its rows and checks every
/// block it reads against the hash stored beside it. An auditor wants the opposite: the bytes
/// exactly as stored, so that its own checks (from the genesis file alone) find and name the
/// first damaged height. Nothing here writes to the file.
public final class StoredChainReader {
    private let connection: SQLiteConnection
    private let stateDatabase: StateDatabase
    /// The chain id recorded in the store's metadata (not trusted by the auditor).
    public let chainID: ChainID
    /// The genesis hash recorded in the store's metadata (not trusted by the auditor).
    public let genesisHash: Hash
    /// The tip height recorded in the store's metadata.
    public let tipHeight: UInt64

    /// Opens the existing store at `path` without checking its rows.
    public init(path: String) throws(StoreError) {
        connection = try SQLiteConnection(path: path, create: false)
        let select = try connection.prepare("SELECT key, value FROM meta")
        try select.bind([])
        var values: [String: [UInt8]] = [:]
        // The meta table holds four rows; a few more would still be read, never unboundedly many.
        var rowsRead = 0
        while try select.step() {
            rowsRead += 1
            guard rowsRead <= 64 else { throw StoreError(.corrupt, "\(path): the meta table has too many rows") }
            values[select.text(0)] = select.blob(1)
        }
        guard let chainBytes = values["chain_id"], let genesisBytes = values["genesis_hash"],
            let heightBytes = values["tip_height"]
        else {
            throw StoreError(.corrupt, "\(path) is not a Socai block store (no chain metadata)")
        }
        do throws(FormatError) {
            chainID = try ChainID(String(decoding: chainBytes, as: UTF8.self))
            genesisHash = try Hash(genesisBytes)
            var reader = ByteReader(heightBytes)
            tipHeight = try reader.readUInt64("tip height")
            try reader.expectEnd("tip height")
        } catch {
            throw StoreError(.corrupt, "\(path): chain metadata is damaged: \(error.message)")
        }
        // Its tables already exist in a block store, so opening the state database writes nothing.
        stateDatabase = try StateDatabase(connection: connection)
        // From here on, nothing the auditor does can change the file.
        try connection.execute("PRAGMA query_only=ON;")
    }

    /// The block and certificate bytes stored at `height`, or nil when no row holds that height.
    public func storedBytes(at height: UInt64) throws(StoreError) -> (block: [UInt8], certificate: [UInt8])? {
        guard height >= 1, height <= UInt64(Int64.max) else { return nil }
        let select = try connection.cached("SELECT block, commit_certificate FROM blocks WHERE height = ?")
        try select.bind([.integer(Int64(height))])
        guard try select.step() else { return nil }
        return (select.blob(0), select.blob(1))
    }

    /// The state root the node recorded for `height`, if any.
    public func recordedStateRoot(atHeight height: UInt64) throws(StoreError) -> Hash? {
        try stateDatabase.stateRoot(atHeight: height)
    }

    /// The result the node recorded for a transaction: height, position and code.
    public func recordedResult(_ hash: Hash) throws(StoreError) -> (height: UInt64, position: UInt32, code: UInt16)? {
        guard let result = try stateDatabase.transactionResult(hash) else { return nil }
        return (result.height, result.position, result.code)
    }

    /// Where a page of `stateEntries` ends, to continue from: a key in a schema-4 store,
    /// which lists its `state` table in key order; a tree key in a schema-5 store, which
    /// lists the leaves of its tree in tree-key order.
    public enum StateEntryCursor: Sendable, Equatable {
        /// After this key.
        case key([UInt8])
        /// After this tree key.
        case treeKey(Hash)
    }

    /// Up to `limit` of the node's current state entries after `cursor` (from the first when
    /// nil), in the store's order, with the cursor of the last one (nil when none were left).
    /// A schema-5 store's values are each checked against their leaf as they are read.
    public func stateEntries(after cursor: StateEntryCursor?, limit: Int) throws(StateError) -> (
        entries: [(key: [UInt8], value: [UInt8])], next: StateEntryCursor?
    ) {
        switch (stateDatabase.valuesBesideLeaves, cursor) {
        case (true, nil), (true, .treeKey?):
            let after: Hash?
            if case .treeKey(let key)? = cursor { after = key } else { after = nil }
            let page = try stateDatabase.leafEntries(after: after, limit: limit)
            return (page.entries, page.last.map(StateEntryCursor.treeKey))
        case (false, nil), (false, .key?):
            let after: [UInt8]?
            if case .key(let key)? = cursor { after = key } else { after = nil }
            let entries = try stateDatabase.entries(withPrefix: [], after: after, limit: limit)
            return (entries, entries.last.map { StateEntryCursor.key($0.key) })
        case (true, .key?), (false, .treeKey?):
            preconditionFailure("a state cursor of the other schema")
        }
    }

    /// The node's current entries under `prefix`, one of `StateKey.listedPrefixes`, in key
    /// order after `after`: the `state` table's rows, which answer the queries that list.
    public func listedStateEntries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
        key: [UInt8], value: [UInt8]
    )] {
        precondition(StateKey.isListed(prefix), "a prefix no query lists")
        return try stateDatabase.entries(withPrefix: prefix, after: after, limit: limit)
    }
}
