import SocaiCore
import SocaiState
import Testing

@testable import SocaiStore

/// State-tree nodes as schema 2 stores them: by location (the height that wrote them and
/// their ordinal in its update), 32 to a row, each internal node naming its children's
/// locations (docs/FORMAT.md §28), and a schema-1 store, keyed by hash, migrated when opened.
extension StateStoreTests {
    /// Every node reachable from `root`, read from SQLite where its parent places it (a
    /// freshly opened store has nothing cached). A child of a later height than its parent,
    /// or missing where its parent names it, fails the test.
    func storedNodes(from root: SparseMerkleNodeReference, in state: StateDatabase) throws -> Set<SparseMerkleNodeReference> {
        var seen: Set<SparseMerkleNodeReference> = []
        var pending = root.hash == .zero ? [] : [root]
        while let reference = pending.popLast() {
            seen.insert(reference)
            let stored = try #require(try state.node(reference), "node \(reference.hash) missing at \(reference.location)")
            #expect(Hash.sha256(stored.bytes) == reference.hash)
            let node = try SparseMerkleNode(canonicalBytes: stored.bytes)
            guard case .internal(let left, let right) = node else {
                #expect(stored.leftLocation == 0 && stored.rightLocation == 0)
                continue
            }
            for (hash, location) in [(left, stored.leftLocation), (right, stored.rightLocation)] where hash != .zero {
                #expect(version(location) <= version(reference.location), "a child written after its parent")
                pending.append(SparseMerkleNodeReference(hash: hash, location: location))
            }
        }
        return seen
    }

    /// The version (height) of a node location.
    func version(_ location: UInt64) -> UInt64 { SparseMerkleNodeLocation.version(of: location) }

    /// Rewrites the store at `path` into schema 1: tree nodes keyed by hash, roots without
    /// their node's location. This is the layout every store had before schema 2.
    func downgradeToSchema1(_ path: String) throws {
        let raw = try SQLiteConnection(path: path, create: false)
        try raw.execute(
            "CREATE TABLE nodes_by_hash(hash BLOB PRIMARY KEY CHECK (length(hash) = 32), node BLOB NOT NULL) WITHOUT ROWID")
        let select = try raw.prepare("SELECT nodes FROM state_node_pages")
        try select.bind([])
        var nodes: [[UInt8]] = []
        while try select.step() {
            let page = select.blob(0)
            #expect(page.count % StateDatabase.pageEntryBytes == 0)
            for start in stride(from: 0, to: page.count, by: StateDatabase.pageEntryBytes) {
                nodes.append(Array(page[start..<(start + SparseMerkleNode.byteCount)]))
            }
        }
        select.reset()
        let insert = try raw.prepare("INSERT OR IGNORE INTO nodes_by_hash(hash, node) VALUES (?, ?)")
        for node in nodes { try insert.run([.blob(Hash.sha256(node).bytes), .blob(node)]) }
        try raw.execute(
            """
            DROP TABLE state_node_pages;
            ALTER TABLE nodes_by_hash RENAME TO state_nodes;
            CREATE TABLE roots_without_version(
                height INTEGER PRIMARY KEY CHECK (height >= 0), root BLOB NOT NULL CHECK (length(root) = 32));
            INSERT INTO roots_without_version SELECT height, root FROM state_roots;
            DROP TABLE state_roots;
            ALTER TABLE roots_without_version RENAME TO state_roots;
            PRAGMA user_version = 1;
            """)
    }

    /// Rewrites the store's transaction results at `path` into schema 2's table, keyed by
    /// transaction hash (each hash from the transaction's outcome record in the state), and
    /// stamps the store as `version`.
    func downgradeResultsToSchema2(_ path: String, stampingVersion version: Int64 = 2) throws {
        try downgradeValuesToSchema4(path)
        let raw = try SQLiteConnection(path: path, create: false)
        var hashes: [String: [UInt8]] = [:]
        let outcomes = try raw.prepare(
            "SELECT key, value FROM state WHERE key >= CAST('tx/' AS BLOB) AND key < CAST('tx0' AS BLOB)")
        try outcomes.bind([])
        while try outcomes.step() {
            let record = try TransactionOutcomeRecord(canonicalBytes: outcomes.blob(1))
            hashes["\(record.height)/\(record.index)"] = Array(outcomes.blob(0).dropFirst(3))
        }
        outcomes.reset()
        #expect(!hashes.isEmpty)
        try raw.execute(
            """
            CREATE TABLE results_by_hash(
                hash BLOB PRIMARY KEY, height INTEGER NOT NULL, position INTEGER NOT NULL, code INTEGER NOT NULL, message TEXT NOT NULL
            ) WITHOUT ROWID;
            """)
        let rows = try raw.prepare("SELECT height, position, code, message FROM transaction_results")
        try rows.bind([])
        let insert = try raw.prepare("INSERT INTO results_by_hash(hash, height, position, code, message) VALUES (?, ?, ?, ?, ?)")
        var copied = 0
        while try rows.step() {
            let hash = try #require(hashes["\(rows.integer(0))/\(rows.integer(1))"])
            try insert.run([
                .blob(hash), .integer(rows.integer(0)), .integer(rows.integer(1)), .integer(rows.integer(2)), .text(rows.text(3)),
            ])
            copied += 1
        }
        rows.reset()
        #expect(copied == hashes.count)
        try raw.execute(
            """
            DROP TABLE transaction_results;
            ALTER TABLE results_by_hash RENAME TO transaction_results;
            DELETE FROM meta WHERE key = '\(StateDatabase.nodesPerPageMetaKey)';
            PRAGMA user_version = \(version);
            """)
    }

    /// Rewrites the store at `path` into schema 4: every current entry in the `state` table,
    /// keyed by key, and no `state_values`. Returns the entries, ascending by key.
    @discardableResult
    func downgradeValuesToSchema4(_ path: String) throws -> [(key: [UInt8], value: [UInt8])] {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        do {
            let store = try BlockStore(existingAt: path)
            #expect(store.state.valuesBesideLeaves)
            var after: Hash?
            while true {
                let page = try store.state.leafEntries(after: after, limit: 7)
                entries += page.entries
                guard let last = page.last else { break }
                after = last
            }
        }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let raw = try SQLiteConnection(path: path, create: false)
        try raw.execute("DELETE FROM state; DROP TABLE state_values;")
        let insert = try raw.prepare("INSERT INTO state(key, value) VALUES (?, ?)")
        for entry in entries { try insert.run([.blob(entry.key), .blob(entry.value)]) }
        try raw.execute("PRAGMA user_version = 4")
        return entries
    }

    /// Makes a store written with 32 nodes to a row into what schema 3 wrote: the same rows,
    /// no record of their size, stamped 3.
    func downgradeToSchema3(_ path: String) throws {
        try downgradeValuesToSchema4(path)
        try SQLiteConnection(path: path, create: false).execute(
            """
            DELETE FROM meta WHERE key = '\(StateDatabase.nodesPerPageMetaKey)';
            PRAGMA user_version = 3;
            """)
    }

    /// The length of every `state_node_pages` row, by row.
    func rowLengths(_ path: String) throws -> [Int64: Int] {
        let raw = try SQLiteConnection(path: path, create: false)
        let select = try raw.prepare("SELECT page, length(nodes) FROM state_node_pages")
        try select.bind([])
        var lengths: [Int64: Int] = [:]
        while try select.step() { lengths[select.integer(0)] = Int(select.integer(1)) }
        return lengths
    }

    /// Every transaction of `blocks` that left an outcome record, with its recorded result.
    func recordedResults(_ blocks: [(Block, CommitCertificate)], in state: StateDatabase) throws -> [String] {
        try blocks.flatMap { block, _ in
            try block.transactions.compactMap { transaction in
                try state.transactionResult(transaction.hash).map { "\($0.height)/\($0.position)/\($0.code)/\($0.message)" }
            }
        }
    }

    /// A new store holding the first `appended` blocks of a `count`-block chain, closed.
    func closedStore(chainOf count: Int, appended: Int, nodesPerPage: UInt64 = StateDatabase.nodesPerPageForNewStores) throws -> (
        directory: TemporaryDirectory, path: String, genesis: Genesis, blocks: [(Block, CommitCertificate)],
        executor: LedgerExecutor
    ) {
        let directory = TemporaryDirectory()
        let genesis = try genesis()
        let blocks = try buildChain(genesis, count: count, reference: try genesisState(genesis))
        let executor = LedgerExecutor(chainID: Self.chainID)
        let store = try genesisStore(genesis, in: directory, nodesPerPage: nodesPerPage)
        for (block, commit) in blocks.prefix(appended) { try store.appendExecuting(block, commit: commit, executor: executor) }
        return (directory, directory.file("chain.sqlite"), genesis, blocks, executor)
    }

    @Test func aSchema2StoreIsMigratedWhenOpenedAndFindsEveryResultByHash() throws {
        let (directory, path, genesis, blocks, executor) = try closedStore(
            chainOf: 5, appended: 3, nodesPerPage: StateDatabase.legacyNodesPerPage)
        defer { withExtendedLifetime(directory) {} }
        let before = try recordedResults(Array(blocks.prefix(3)), in: try BlockStore(existingAt: path).state)
        #expect(!before.isEmpty)
        try downgradeResultsToSchema2(path)
        #expect(try schemaVersion(path) == 2)

        // A reader leaves it as it is (an older node may still be running on it) and finds
        // each result by hash, as schema 2 did.
        do {
            let read = try BlockStore(existingAt: path)
            #expect(try recordedResults(Array(blocks.prefix(3)), in: read.state) == before)
        }
        #expect(try schemaVersion(path) == 2)
        let reader = try StoredChainReader(path: path)
        let first = try #require(blocks[0].0.transactions.first)
        #expect(try reader.recordedResult(first.hash)?.height == 1)

        // The node's own open migrates it.
        let migrated = try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
        #expect(try schemaVersion(path) == BlockStore.schemaVersion)
        #expect(try recordedResults(Array(blocks.prefix(3)), in: migrated.state) == before)
        // Blocks go on after the migration, their results found by hash as well.
        for (block, commit) in blocks.dropFirst(3) { try migrated.appendExecuting(block, commit: commit, executor: executor) }
        let reopened = try BlockStore(existingAt: path)
        let after = try recordedResults(blocks, in: reopened.state)
        #expect(after.count > before.count && Array(after.prefix(before.count)) == before)
        #expect(reopened.verifyChain().isValid)
    }

    @Test func aResultRowMissingUnderItsOutcomeRecordIsReportedAsCorrupt() throws {
        let (directory, path, _, blocks, _) = try closedStore(chainOf: 2, appended: 2)
        defer { withExtendedLifetime(directory) {} }
        try SQLiteConnection(path: path, create: false).execute("DELETE FROM transaction_results WHERE height = 2")
        let reopened = try BlockStore(existingAt: path)
        let transaction = try #require(blocks[1].0.transactions.first)
        let error = try #require(throws: StoreError.self) { _ = try reopened.state.transactionResult(transaction.hash) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("recorded at height 2, position 0, but no result is stored there"), "\(error.message)")
        // An unknown hash is simply not found.
        #expect(try reopened.state.transactionResult(Hash.sha256([1, 2, 3])) == nil)
    }

    /// The store's `PRAGMA user_version`.
    func schemaVersion(_ path: String) throws -> Int64 {
        let raw = try SQLiteConnection(path: path, create: false)
        let select = try raw.prepare("PRAGMA user_version")
        try select.bind([])
        #expect(try select.step())
        return select.integer(0)
    }

    @Test func eachBlocksNodesAreStoredAtItsHeightAndEveryRootIsFoundWhereItsParentsPlaceIt() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let genesis = try genesis()
        let blocks = try buildChain(genesis, count: 5, reference: try genesisState(genesis))
        var createdAt: [UInt64: Int] = [:]
        do {
            let store = try genesisStore(genesis, in: directory)
            #expect(try store.state.stateRootReference(atHeight: 0).map { version($0.location) } == 0)
            let executor = LedgerExecutor(chainID: Self.chainID)
            for (block, commit) in blocks {
                let execution = try store.appendExecuting(block, commit: commit, executor: executor)
                #expect(execution.changes.tree.version == block.header.height)
                createdAt[block.header.height] = execution.changes.treeNodes.count
            }
        }
        #expect(try schemaVersion(path) == BlockStore.schemaVersion)
        let reopened = try BlockStore(existingAt: path)
        let raw = try SQLiteConnection(path: path, create: false)
        let count = try raw.prepare(
            "SELECT count(*), coalesce(sum(length(nodes)), 0), coalesce(min(page), 0), coalesce(max(page), -1) FROM state_node_pages WHERE page >= ? AND page < ?"
        )
        // A new store records 64 nodes to a row.
        let perRow = reopened.state.nodesPerPage
        #expect(perRow == StateDatabase.nodesPerPageForNewStores)
        #expect(try StateDatabase.recordedNodesPerPage(raw) == perRow)
        for height in UInt64(1)...5 {
            // Exactly the nodes the block's update created are stored at its height, 64 to a
            // row in consecutive rows, only the last one short.
            let first = SparseMerkleNodeLocation.location(version: height, ordinal: 0) / perRow
            let next = SparseMerkleNodeLocation.location(version: height + 1, ordinal: 0) / perRow
            try count.bind([.integer(Int64(first)), .integer(Int64(next))])
            #expect(try count.step())
            let created = try #require(createdAt[height])
            #expect(Int(count.integer(1)) == created * StateDatabase.pageEntryBytes, "height \(height)")
            #expect(Int(count.integer(0)) == (created + Int(perRow) - 1) / Int(perRow), "height \(height)")
            if created > 0 {
                #expect(count.integer(2) == Int64(first) && count.integer(3) == Int64(first) + count.integer(0) - 1)
            }
            count.reset()
        }
        for height in UInt64(0)...5 {
            let root = try #require(try reopened.state.stateRootReference(atHeight: height))
            #expect(version(root.location) <= height)
            let reachable = try storedNodes(from: root, in: reopened.state)
            #expect(!reachable.isEmpty)
            #expect(reachable.contains { version($0.location) == height } || height == 0 || createdAt[height] == 0)
        }
        #expect(version(reopened.state.stateRootLocation) == 5)
    }

    @Test func aSchema1StoreIsMigratedWhenOpenedAndKeepsEveryRootProvable() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let genesis = try genesis()
        let reference = try genesisState(genesis)
        let blocks = try buildChain(genesis, count: 5, reference: reference)
        let executor = LedgerExecutor(chainID: Self.chainID)
        var roots: [Hash] = []
        do {
            let store = try genesisStore(genesis, in: directory, nodesPerPage: StateDatabase.legacyNodesPerPage)
            roots.append(store.state.stateRoot)
            for (block, commit) in blocks.prefix(3) {
                try store.appendExecuting(block, commit: commit, executor: executor)
                roots.append(store.state.stateRoot)
            }
        }
        let resultsBefore = try recordedResults(Array(blocks.prefix(3)), in: try BlockStore(existingAt: path).state)
        try downgradeResultsToSchema2(path, stampingVersion: 1)
        try downgradeToSchema1(path)
        #expect(try schemaVersion(path) == 1)

        let migrated = try BlockStore(existingAt: path)
        #expect(try schemaVersion(path) == BlockStore.schemaVersion)
        #expect(migrated.height == 3)
        #expect(migrated.state.stateRoot == roots[3])
        #expect(try recordedResults(Array(blocks.prefix(3)), in: migrated.state) == resultsBefore)
        // Every old node is at version 0, and every recorded root reads there.
        for (height, root) in roots.enumerated() {
            let stored = try #require(try migrated.state.stateRootReference(atHeight: UInt64(height)))
            #expect(stored.hash == root && version(stored.location) == 0)
            #expect(try storedNodes(from: stored, in: migrated.state).allSatisfy { version($0.location) == 0 })
        }
        let did = DID(initialKey: PublicKey(of: citizen))
        let queries = LedgerQueries(backend: migrated.state)
        let document = try #require(try queries.did(did))
        #expect(document.proof.verify())
        let first = try #require(try queries.did(did, version: 2))
        let rootAtHeight1 = try #require(try migrated.state.stateRootReference(atHeight: 1))
        let old = try queries.proof(
            forKey: StateKey.did(did), root: rootAtHeight1,
            valueAtRoot: .some(first.proof.value))
        #expect(old.verify())

        // Blocks go on after the migration, their nodes at their own heights over version-0 ones.
        for (block, commit) in blocks.dropFirst(3) {
            try migrated.appendExecuting(block, commit: commit, executor: executor)
        }
        #expect(migrated.state.stateRoot == reference.stateRoot)
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.height == 5)
        let tip = try #require(try reopened.state.stateRootReference(atHeight: 5))
        let reachable = try storedNodes(from: tip, in: reopened.state)
        #expect(reachable.contains { version($0.location) == 0 } && reachable.contains { version($0.location) == 5 })
        #expect(try queries.did(did)?.record.version == 6)
    }

    @Test func aSchema3StoreKeepsItsRowsOf32AndIsStampedWithThemWhenTheNodeOpensIt() throws {
        let (directory, path, genesis, blocks, executor) = try closedStore(
            chainOf: 6, appended: 3, nodesPerPage: StateDatabase.legacyNodesPerPage)
        defer { withExtendedLifetime(directory) {} }
        let rootBefore = try BlockStore(existingAt: path).state.stateRoot
        try downgradeToSchema3(path)
        let legacyRowBytes = Int(StateDatabase.legacyNodesPerPage) * StateDatabase.pageEntryBytes
        // Rows of 32: the first row of height h is h × 2^28 / 32.
        func firstRow(_ height: Int64) -> Int64 { height << 28 / Int64(StateDatabase.legacyNodesPerPage) }
        #expect(try rowLengths(path).keys.contains(firstRow(3)))

        // A reader leaves it as it is and reads its rows as 32 nodes each.
        do {
            let read = try BlockStore(existingAt: path)
            #expect(read.state.nodesPerPage == StateDatabase.legacyNodesPerPage)
            #expect(read.state.stateRoot == rootBefore)
            let did = DID(initialKey: PublicKey(of: citizen))
            #expect(try LedgerQueries(backend: read.state).did(did)?.proof.verify() == true)
        }
        #expect(try schemaVersion(path) == 3)
        #expect(try StateDatabase.recordedNodesPerPage(try SQLiteConnection(path: path, create: false)) == nil)

        // The node's own open records the 32 and stamps schema 4, changing no row; the blocks
        // that follow are written 32 to a row too.
        let rowsBefore = try rowLengths(path)
        let migrated = try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
        #expect(try schemaVersion(path) == BlockStore.schemaVersion)
        #expect(migrated.state.nodesPerPage == StateDatabase.legacyNodesPerPage)
        #expect(try rowLengths(path) == rowsBefore)
        for (block, commit) in blocks.dropFirst(3) { try migrated.appendExecuting(block, commit: commit, executor: executor) }
        let rowsAfter = try rowLengths(path)
        #expect(rowsAfter.keys.contains(firstRow(6)))
        #expect(rowsAfter.values.allSatisfy { $0 <= legacyRowBytes && $0 % StateDatabase.pageEntryBytes == 0 })
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.state.nodesPerPage == StateDatabase.legacyNodesPerPage)
        #expect(reopened.verifyChain().isValid)
        let tip = try #require(try reopened.state.stateRootReference(atHeight: 6))
        #expect(try storedNodes(from: tip, in: reopened.state).contains { version($0.location) == 6 })
        let did = DID(initialKey: PublicKey(of: citizen))
        #expect(try LedgerQueries(backend: reopened.state).did(did)?.proof.verify() == true)
    }

    @Test func aRecordedNodesPerRowOtherThan32Or64IsReportedAsCorrupt() throws {
        let (directory, path, _, _, _) = try closedStore(chainOf: 1, appended: 1)
        defer { withExtendedLifetime(directory) {} }
        try SQLiteConnection(path: path, create: false).execute(
            "UPDATE meta SET value = x'0000000000000030' WHERE key = '\(StateDatabase.nodesPerPageMetaKey)'")
        let error = try #require(throws: StoreError.self) { _ = try BlockStore(existingAt: path) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains(StateDatabase.nodesPerPageMetaKey), "\(error.message)")
    }

    @Test func aStoreWithANewerSchemaIsRefusedWithItsVersion() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let genesis = try genesis()
        _ = try genesisStore(genesis, in: directory)
        let newer = BlockStore.schemaVersion + 1
        try SQLiteConnection(path: path, create: false).execute("PRAGMA user_version = \(newer)")
        let error = try #require(throws: StoreError.self) { _ = try BlockStore(existingAt: path) }
        #expect(error.message.contains("schema version \(newer)"), "\(error.message)")
        #expect(try schemaVersion(path) == newer)
    }
}
