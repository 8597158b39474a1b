import SocaiCore
import SocaiState

/// The append-only block store: blocks with their commit certificates in one SQLite file.
///
/// A block is accepted only at height tip + 1 and only if its previous-block hash is the
/// tip's hash (the genesis hash for block 1). The block, its certificate and the new tip
/// are written in one SQLite transaction, in WAL mode with `synchronous=FULL`, so after a
/// crash at any moment the store reopens at exactly one committed height. There is no API
/// to change or delete a block, and SQLite triggers refuse it from any other client.
public final class BlockStore {
    /// The schema version written to `PRAGMA user_version`. Version 2 stores state-tree nodes
    /// by location, 32 to a row; version 3 keys transaction results by height and position;
    /// version 4 records the nodes per row in `meta`, 64 in a new store; version 5 keeps
    /// each value beside its tree leaf and only the listed keys in `state` (docs/FORMAT.md
    /// §28). An older store is migrated when opened.
    public static let schemaVersion: Int64 = 5

    /// The store's one SQLite connection. Internal, not private, so that a test can run a
    /// transaction that writes state and then fails.
    let connection: SQLiteConnection
    /// The chain this store holds.
    public let chainID: ChainID
    /// The genesis hash this chain starts from (block 1's previous-block hash).
    public let genesisHash: Hash
    /// Height of the last committed block; 0 when the store holds no block.
    public private(set) var height: UInt64
    /// Hash of the last committed block; the genesis hash when the store holds no block.
    public private(set) var tipHash: Hash
    /// The latest block's time (Unix milliseconds), nil before block 1: kept so that queries,
    /// which report the time of the state they read, need not decode the tip block.
    public private(set) var tipTimeMilliseconds: UInt64?
    /// The ledger state kept beside the blocks (empty until `initializeState` runs).
    public let state: StateDatabase
    /// Copies the write-ahead log into the file off the commit path. Internal, so that a
    /// test can put one with a small threshold in its place.
    var checkpointer: WALCheckpointer {
        didSet { connection.routeCheckpoints(to: checkpointer) }
    }

    /// Opens the store at `path`, creating it for `genesisHash` and `chainID` if it does not
    /// exist. An existing store must belong to the same chain and genesis.
    public convenience init(path: String, chainID: ChainID, genesisHash: Hash) throws(StoreError) {
        try self.init(
            path: path, chainID: chainID, genesisHash: genesisHash, nodesPerPageIfNew: StateDatabase.nodesPerPageForNewStores)
    }

    /// Opens or creates the store as `init(path:chainID:genesisHash:)` does; a new store gets
    /// `nodesPerPageIfNew` tree nodes per row (a test makes a store as schema 3 wrote it).
    convenience init(path: String, chainID: ChainID, genesisHash: Hash, nodesPerPageIfNew: UInt64) throws(StoreError) {
        let connection = try SQLiteConnection(path: path, create: true)
        try Self.configure(connection)
        try Self.createSchema(connection)
        let meta = try Self.readMeta(connection)
        if let meta {
            guard meta.chainID == chainID, meta.genesisHash == genesisHash else {
                throw StoreError(
                    .wrongChain,
                    "\(path) holds chain \(meta.chainID) with genesis \(meta.genesisHash), not \(chainID) with genesis \(genesisHash)"
                )
            }
        } else {
            try connection.inTransaction { () throws(StoreError) in
                let insert = try connection.prepare("INSERT INTO meta(key, value) VALUES (?, ?)")
                try insert.run([.text("chain_id"), .blob(Array(chainID.value.utf8))])
                try insert.run([.text("genesis_hash"), .blob(genesisHash.bytes)])
                try insert.run([.text("tip_height"), .blob(Self.encodeHeight(0))])
                try insert.run([.text("tip_hash"), .blob(genesisHash.bytes)])
                try StateDatabase.recordNodesPerPage(nodesPerPageIfNew, connection)
            }
        }
        try self.init(connection: connection, migrating: true)
        // The node's own open: every write to this file is this connection's.
        connection.holdReadTransactions()
    }

    /// Opens an existing store at `path`; throws `notFound` when there is none.
    public convenience init(existingAt path: String) throws(StoreError) {
        let connection = try SQLiteConnection(path: path, create: false)
        try Self.configure(connection)
        try self.init(connection: connection, migrating: false)
    }

    /// `migrating`: whether a schema-2 store is brought to this schema. Only the node's own
    /// open (`init(path:chainID:genesisHash:)`) migrates one: a reader (`existingAt`, a
    /// command reading a running node's store) leaves it as it is and reads its results
    /// by hash, so that an older node still running on it can go on committing. A schema-1
    /// store, which this socai cannot read, is migrated by either.
    private init(connection: SQLiteConnection, migrating: Bool) throws(StoreError) {
        self.connection = connection
        checkpointer = WALCheckpointer(path: connection.path)
        connection.routeCheckpoints(to: checkpointer)
        let versionFound = try Self.upgradeSchema(connection, migrating: migrating)
        state = try StateDatabase(connection: connection)
        // Stamped once, on the new file: a store opened by a reader (an audit of a running
        // node's store) is not written to.
        if versionFound == 0, !state.resultsKeyedByHash, state.valuesBesideLeaves {
            // A store an earlier socai left unstamped has 32 nodes to a row and no record of it.
            let nodesPerPage = state.nodesPerPage
            try connection.inTransaction { () throws(StoreError) in
                try StateDatabase.recordNodesPerPage(nodesPerPage, connection)
                try connection.execute("PRAGMA user_version = \(Self.schemaVersion)")
            }
        }
        guard let meta = try Self.readMeta(connection) else {
            throw StoreError(.corrupt, "\(connection.path) is not a Socai block store (no chain metadata)")
        }
        chainID = meta.chainID
        genesisHash = meta.genesisHash
        height = meta.tipHeight
        tipHash = meta.tipHash
        try checkTip()
        tipTimeMilliseconds = try block(at: height)?.block.header.timeMilliseconds
    }

    private static func configure(_ connection: SQLiteConnection) throws(StoreError) {
        // WAL keeps readers off the writer's path; FULL syncs the WAL on every commit, so a
        // committed block survives power loss, not only a process crash.
        // A page cache of at most 256 MiB (SQLite's default is 2 MiB; memory is taken only as
        // pages are read). Each block inserts its state rows into pages all over the `state`
        // table and reads back tree nodes that recent blocks did not write; past the cache,
        // each such page is read again through the kernel, from the log or the file. At
        // 54,000 DIDs (`SOCAI_BENCH_STORE_BLOCKS=180`) raising the cache from 64 to 256 MiB
        // took a block's execution from 47–54 to 42 µs per transaction.
        // Checkpoints are not SQLite's automatic ones but `WALCheckpointer`'s, which copy the
        // log back on another thread once it holds 64 MiB.
        try connection.execute(
            """
            PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-262144;
            """)
    }

    private static func createSchema(_ connection: SQLiteConnection) throws(StoreError) {
        try connection.inTransaction { () throws(StoreError) in
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS blocks(
                    height INTEGER PRIMARY KEY CHECK (height >= 1),
                    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
                    block BLOB NOT NULL,
                    commit_certificate BLOB NOT NULL
                );
                CREATE TRIGGER IF NOT EXISTS blocks_append_only_update BEFORE UPDATE ON blocks
                    BEGIN SELECT RAISE(ABORT, 'socai blocks are append-only'); END;
                CREATE TRIGGER IF NOT EXISTS blocks_append_only_delete BEFORE DELETE ON blocks
                    BEGIN SELECT RAISE(ABORT, 'socai blocks are append-only'); END;
                CREATE TABLE IF NOT EXISTS validator_sets(
                    height INTEGER PRIMARY KEY CHECK (height >= 1),
                    validator_set BLOB NOT NULL
                );
                """)
        }
    }

    /// Brings a store written by an earlier Socai to this schema, in one transaction, or
    /// refuses one written by a later Socai, and returns the version it found. A new file
    /// (version 0) needs nothing, unless an earlier Socai stopped before stamping it.
    private static func upgradeSchema(_ connection: SQLiteConnection, migrating: Bool) throws(StoreError) -> Int64 {
        let select = try connection.prepare("PRAGMA user_version")
        try select.bind([])
        let version = try select.step() ? select.integer(0) : 0
        select.reset()
        switch version {
        case schemaVersion:
            break
        case 0:
            // Not yet stamped: new, or made by an earlier socai that stopped before stamping
            // it, whose results table may be schema 2's.
            if migrating, try StateDatabase.hasResultsKeyedByHash(connection) {
                try connection.inTransaction { () throws(StoreError) in
                    try StateDatabase.migrateTransactionResultsToVersion3(connection)
                }
            }
            if migrating, try StateDatabase.needsValuesBesideLeaves(connection) {
                try connection.inTransaction { () throws(StoreError) in try StateDatabase.migrateValuesBesideLeaves(connection) }
            }
        case 2 where !migrating, 3 where !migrating, 4 where !migrating:
            // A reader leaves the store as it is: its rows hold 32 nodes if it records none,
            // and it reads every value from the `state` table.
            break
        case 1, 2, 3, 4:
            try connection.inTransaction { () throws(StoreError) in
                if version == 1, try StateDatabase.hasVersion1Layout(connection) {
                    try StateDatabase.migrateVersion1(connection)
                }
                if version < 3 { try StateDatabase.migrateTransactionResultsToVersion3(connection) }
                // Schema 4 changes no row: it records the rows' 32 nodes that schemas 2 and
                // 3 (and the schema-1 migration) wrote.
                if version < 4 { try StateDatabase.recordNodesPerPage(StateDatabase.legacyNodesPerPage, connection) }
                if try StateDatabase.needsValuesBesideLeaves(connection) {
                    try StateDatabase.migrateValuesBesideLeaves(connection)
                }
                try connection.execute("PRAGMA user_version = \(schemaVersion)")
            }
        default:
            throw StoreError(
                .database,
                "\(connection.path) has store schema version \(version); this socai reads versions 1 to \(schemaVersion). Use a newer socai."
            )
        }
        return version
    }

    private struct Meta {
        var chainID: ChainID
        var genesisHash: Hash
        var tipHeight: UInt64
        var tipHash: Hash
    }

    private static func readMeta(_ connection: SQLiteConnection) throws(StoreError) -> Meta? {
        let select = try connection.prepare("SELECT key, value FROM meta")
        try select.bind([])
        var values: [String: [UInt8]] = [:]
        while try select.step() { values[select.text(0)] = select.blob(1) }
        if values.isEmpty { return nil }
        guard let chainBytes = values["chain_id"], let genesisBytes = values["genesis_hash"],
            let heightBytes = values["tip_height"], let tipBytes = values["tip_hash"]
        else {
            throw StoreError(.corrupt, "\(connection.path): chain metadata is incomplete")
        }
        do throws(FormatError) {
            return Meta(
                chainID: try ChainID(String(decoding: chainBytes, as: UTF8.self)),
                genesisHash: try Hash(genesisBytes), tipHeight: try decodeHeight(heightBytes),
                tipHash: try Hash(tipBytes))
        } catch {
            throw StoreError(.corrupt, "\(connection.path): chain metadata is damaged: \(error.message)")
        }
    }

    private static func encodeHeight(_ height: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(height)
        return writer.bytes
    }

    private static func decodeHeight(_ bytes: [UInt8]) throws(FormatError) -> UInt64 {
        var reader = ByteReader(bytes)
        let height = try reader.readUInt64("tip height")
        try reader.expectEnd("tip height")
        return height
    }

    /// Checks that the recorded tip agrees with the highest stored block.
    private func checkTip() throws(StoreError) {
        let select = try connection.prepare("SELECT COUNT(*), COALESCE(MAX(height), 0) FROM blocks")
        try select.bind([])
        _ = try select.step()
        let count = select.integer(0)
        let maximum = select.integer(1)
        guard count == maximum, UInt64(maximum) == height else {
            throw StoreError(
                .corrupt, "\(connection.path): tip height \(height) but \(count) blocks stored up to height \(maximum)")
        }
        if height > 0 {
            let stored = try storedRow(at: height)
            guard stored?.hash == tipHash.bytes else {
                throw StoreError(.corrupt, "\(connection.path): tip hash does not match block \(height)")
            }
        }
    }

    /// Appends `block`, certified by `commit`, as the new tip.
    ///
    /// Checks, before writing: the chain id, height = tip + 1, the hash link, the block's own
    /// consistency (`Block.validateBasic`) and that `commit` is for this block. Commit
    /// signatures are checked by the caller, who knows the validator set in force.
    public func append(_ block: Block, commit: CommitCertificate) throws(StoreError) {
        guard state.height == nil else {
            throw StoreError(.invalidBlock, "this store keeps ledger state: append blocks with appendExecuting")
        }
        try append(block, commit: commit) { () throws(StoreError) in }
    }

    private func append(
        _ block: Block, commit: CommitCertificate, alsoWrite: () throws(StoreError) -> Void
    ) throws(StoreError) {
        let header = block.header
        guard header.chainID == chainID else {
            throw StoreError(.wrongChain, "block \(header.height) is for chain \(header.chainID), this store holds \(chainID)")
        }
        guard header.height == height + 1 else {
            throw StoreError(.wrongHeight, "block at height \(header.height) offered; the store expects height \(height + 1)")
        }
        guard header.previousBlockHash == tipHash else {
            throw StoreError(
                .brokenLink, "block \(header.height) links to \(header.previousBlockHash), but the tip is \(tipHash)")
        }
        do throws(VerificationError) { try block.validateBasic() } catch {
            throw StoreError(.invalidBlock, error.message)
        }
        let blockHash = block.hash
        guard commit.height == header.height, commit.blockID == blockHash else {
            throw StoreError(
                .invalidBlock,
                "the commit certificate is for block \(commit.height) \(commit.blockID), not \(header.height) \(blockHash)")
        }
        let blockBytes = block.canonicalBytes
        let commitBytes = commit.canonicalBytes
        guard blockBytes.count <= Limits.blockBytesMax else {
            throw StoreError(.invalidBlock, "block \(header.height) of \(blockBytes.count) bytes exceeds \(Limits.blockBytesMax)")
        }
        try connection.inTransaction { () throws(StoreError) in
            let insert = try connection.prepare(
                "INSERT INTO blocks(height, hash, block, commit_certificate) VALUES (?, ?, ?, ?)")
            try insert.run([.integer(Int64(header.height)), .blob(blockHash.bytes), .blob(blockBytes), .blob(commitBytes)])
            let update = try connection.prepare("UPDATE meta SET value = ? WHERE key = ?")
            try update.run([.blob(Self.encodeHeight(header.height)), .text("tip_height")])
            try update.run([.blob(blockHash.bytes), .text("tip_hash")])
            try alsoWrite()
        }
        height = header.height
        tipHash = blockHash
        tipTimeMilliseconds = header.timeMilliseconds
    }

    /// Writes the genesis state (height 0) into an empty store.
    public func initializeState(_ changes: StateChanges) throws(StoreError) {
        guard height == 0, state.height == nil else {
            throw StoreError(
                .invalidBlock,
                "state is already initialized (state height \(state.height.map(String.init) ?? "none"), block height \(height))")
        }
        try connection.inTransaction { () throws(StoreError) in try state.write(changes, height: 0, outcomes: []) }
        state.didCommit(height: 0)
    }

    /// Executes `block` against the stored state and appends it with its state changes, in
    /// one SQLite transaction: the node is always at one committed height for blocks and state.
    ///
    /// The block's state root and validators hash must match what execution produced. With
    /// `signaturesVerified` the caller vouches that every transaction signature was checked.
    @discardableResult
    public func appendExecuting(
        _ block: Block, commit: CommitCertificate, executor: LedgerExecutor, signaturesVerified: Bool = false
    ) throws(StoreError) -> BlockExecution {
        guard state.height == height else {
            throw StoreError(.corrupt, "state is at height \(state.height.map(String.init) ?? "none"), blocks at \(height)")
        }
        let execution: BlockExecution
        do throws(StateError) {
            execution = try executor.execute(block, on: state, signaturesVerified: signaturesVerified)
        } catch {
            throw StoreError(.corrupt, "cannot execute block \(block.header.height): \(error.message)")
        }
        try append(block, commit: commit, execution: execution)
        return execution
    }

    /// Appends `block` with an execution computed earlier against the current stored state
    /// (a validator executes a block once, when it builds or validates it, and persists that
    /// result on commit), in one SQLite transaction.
    ///
    /// The execution must have been made on this store's current state root, and the block's
    /// state root and validators hash must match it.
    public func append(_ block: Block, commit: CommitCertificate, execution: BlockExecution) throws(StoreError) {
        guard state.height == height else {
            throw StoreError(.corrupt, "state is at height \(state.height.map(String.init) ?? "none"), blocks at \(height)")
        }
        guard execution.baseStateRoot == state.stateRoot else {
            throw StoreError(
                .invalidBlock,
                "block \(block.header.height) was executed on state root \(execution.baseStateRoot), but the store is at \(state.stateRoot)"
            )
        }
        guard execution.outcomes.count == block.transactions.count,
            zip(execution.outcomes, block.transactions).allSatisfy({ $0.transactionHash == $1.hash })
        else {
            throw StoreError(.invalidBlock, "block \(block.header.height): the execution is for other transactions")
        }
        guard execution.stateRoot == block.header.stateRoot else {
            throw StoreError(
                .invalidBlock,
                "block \(block.header.height) claims state root \(block.header.stateRoot); execution gives \(execution.stateRoot)"
            )
        }
        guard execution.validatorSet.hash == block.header.validatorsHash else {
            throw StoreError(
                .invalidBlock,
                "block \(block.header.height) names validators hash \(block.header.validatorsHash); the set in force hashes to \(execution.validatorSet.hash)"
            )
        }
        let set = execution.validatorSet
        let setChanged = try validatorSet(inForceAt: block.header.height - 1).map { $0 != set } ?? true
        try append(block, commit: commit) { () throws(StoreError) in
            try state.write(execution.changes, height: block.header.height, outcomes: execution.outcomes)
            // The set in force is kept from each height where it changed (and from the first
            // block this store executed), so a DID proof can carry every set since genesis:
            // the state keeps only the current one.
            if setChanged {
                try connection.cached("INSERT INTO validator_sets(height, validator_set) VALUES (?, ?)").run([
                    .integer(Int64(block.header.height)), .blob(set.canonicalBytes),
                ])
            }
        }
        state.didCommit(height: block.header.height)
    }

    /// The validator set in force at `height`, from the sets this store recorded as it
    /// executed blocks; nil when it recorded none at or below `height` (a store that synced
    /// blocks without executing them, or one written before sets were kept). Read back, it
    /// must decode canonically.
    public func validatorSet(inForceAt height: UInt64) throws(StoreError) -> ValidatorSet? {
        guard height >= 1 else { return nil }
        let select = try connection.cached(
            "SELECT validator_set FROM validator_sets WHERE height <= ? ORDER BY height DESC LIMIT 1")
        try select.bind([.integer(Int64(height))])
        guard try select.step() else { return nil }
        do throws(FormatError) { return try ValidatorSet(canonicalBytes: select.blob(0)) } catch {
            throw StoreError(
                .corrupt, "the validator set recorded at or below height \(height) does not decode: \(error.message)")
        }
    }

    /// Completes the record of validator sets for a store written before sets were recorded
    /// (they are kept from the first block a store executes, so such a store's record starts
    /// above height 1). Each block below the first recorded set must name `genesisSet` in its
    /// validators hash, which shows that set was in force there; it is then recorded from
    /// height 1. Throws, naming the block, when one names another set: that store cannot
    /// tell which set checked what, and must be rebuilt by block sync from an empty store.
    ///
    /// Why: checking a block's evidence needs the set in force at the evidence's height, and
    /// a validator whose record had a gap would judge such a block unlike the others.
    public func completeValidatorSetHistory(genesisSet: ValidatorSet) throws(StoreError) {
        guard height >= 1 else { return }
        let select = try connection.prepare("SELECT MIN(height) FROM validator_sets")
        try select.bind([])
        let firstRecorded: UInt64? = try select.step() && !select.isNull(0) ? UInt64(select.integer(0)) : nil
        if firstRecorded == 1 { return }
        let gapEnd = firstRecorded.map { $0 - 1 } ?? height
        for gapHeight in 1...gapEnd {
            guard let stored = try block(at: gapHeight) else {
                throw StoreError(.corrupt, "block \(gapHeight) is missing")
            }
            guard stored.block.header.validatorsHash == genesisSet.hash else {
                throw StoreError(
                    .corrupt,
                    "this store records no validator set before height \(gapEnd + 1), and block \(gapHeight) names a set other than genesis's; rebuild the store by syncing from an empty data directory"
                )
            }
        }
        try connection.inTransaction { () throws(StoreError) in
            try connection.cached("INSERT INTO validator_sets(height, validator_set) VALUES (?, ?)").run([
                .integer(1), .blob(genesisSet.canonicalBytes),
            ])
        }
        let recorded = try validatorSet(inForceAt: 1)
        precondition(recorded == genesisSet, "the genesis set was recorded from height 1")
    }

    private struct StoredRow {
        var hash: [UInt8]
        var block: [UInt8]
        var commit: [UInt8]
    }

    private func storedRow(at height: UInt64) throws(StoreError) -> StoredRow? {
        guard height >= 1, height <= UInt64(Int64.max) else { return nil }
        let select = try connection.prepare("SELECT hash, block, commit_certificate FROM blocks WHERE height = ?")
        try select.bind([.integer(Int64(height))])
        guard try select.step() else { return nil }
        return StoredRow(hash: select.blob(0), block: select.blob(1), commit: select.blob(2))
    }

    /// The block at `height` and its commit certificate, or nil above the tip.
    ///
    /// What is read back is checked: it must decode canonically, be at the height asked
    /// for, and hash to the hash stored beside it; otherwise the store is `corrupt`.
    public func block(at height: UInt64) throws(StoreError) -> (block: Block, commit: CommitCertificate)? {
        guard let row = try storedRow(at: height) else { return nil }
        let block: Block
        let commit: CommitCertificate
        do throws(FormatError) {
            block = try Block(canonicalBytes: row.block)
            commit = try CommitCertificate(canonicalBytes: row.commit)
        } catch {
            throw StoreError(.corrupt, "block \(height) as stored does not decode: \(error.message)")
        }
        guard block.header.height == height, block.hash.bytes == row.hash else {
            throw StoreError(.corrupt, "block \(height) as stored does not match its recorded hash")
        }
        guard commit.height == height, commit.blockID == block.hash else {
            throw StoreError(.corrupt, "the commit certificate stored at height \(height) is not for its block")
        }
        return (block, commit)
    }
}
