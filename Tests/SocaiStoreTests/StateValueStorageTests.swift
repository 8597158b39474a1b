import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiStore

/// State values as schema 5 stores them: each beside the tree leaf that binds it, found by
/// walking the tree, and only the listed keys also in the `state` table (docs/FORMAT.md §28);
/// a schema-4 store, which kept every value in `state`, migrated when the node opens it.
extension StateStoreTests {
    /// Every `state_values` row of the store at `path`, by location.
    func storedValueRows(_ path: String) throws -> [(location: Int64, key: [UInt8], value: [UInt8])] {
        let raw = try SQLiteConnection(path: path, create: false)
        let select = try raw.prepare("SELECT location, key, value FROM state_values ORDER BY location")
        try select.bind([])
        var rows: [(location: Int64, key: [UInt8], value: [UInt8])] = []
        while try select.step() { rows.append((select.integer(0), select.blob(1), select.blob(2))) }
        select.reset()
        return rows
    }

    /// The keys of the `state` table of the store at `path`, ascending.
    func stateTableKeys(_ path: String) throws -> [[UInt8]] {
        let raw = try SQLiteConnection(path: path, create: false)
        let select = try raw.prepare("SELECT key FROM state ORDER BY key")
        try select.bind([])
        var keys: [[UInt8]] = []
        while try select.step() { keys.append(select.blob(0)) }
        select.reset()
        return keys
    }

    /// The whole current state of `state`, through its leaves, in pages of `pageSize`.
    func leafEntries(_ state: StateDatabase, pageSize: Int) throws -> [(key: [UInt8], value: [UInt8])] {
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var after: Hash?
        while true {
            let page = try state.leafEntries(after: after, limit: pageSize)
            #expect(page.entries.count <= pageSize)
            entries += page.entries
            guard let last = page.last else { break }
            after = last
        }
        return entries
    }

    @Test func eachValueIsStoredBesideItsLeafAndOnlyListedKeysInTheStateTable() throws {
        let (directory, path, genesis, blocks, executor) = try closedStore(chainOf: 4, appended: 4)
        defer { withExtendedLifetime(directory) {} }
        // The state the blocks make, kept in memory.
        let reference = try genesisState(genesis)
        for (block, _) in blocks { reference.apply(try executor.execute(block, on: reference).changes) }
        let expected = try reference.entries(withPrefix: [], after: nil, limit: 10_000)
        #expect(expected.contains { StateKey.isListed($0.key) } && expected.contains { !StateKey.isListed($0.key) })

        // The `state` table holds exactly the listed keys.
        #expect(try stateTableKeys(path) == expected.map(\.key).filter(StateKey.isListed))

        // A row for each value each height wrote, appended in location order, each under the
        // location of a leaf that binds its key to its value.
        let rows = try storedValueRows(path)
        #expect(rows.count > expected.count)
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.location < $1.location })
        let store = try BlockStore(existingAt: path)
        #expect(store.state.valuesBesideLeaves)
        for row in rows {
            let stored = try #require(
                try store.state.node(SparseMerkleNodeReference(hash: .zero, location: UInt64(row.location))))
            #expect(
                try SparseMerkleNode(canonicalBytes: stored.bytes)
                    == .leaf(key: StateKey.treeKey(row.key), valueHash: StateKey.treeValue(row.value)))
        }

        // Every current value reads back, by key and through the leaves, at any page size.
        for entry in expected { #expect(try store.state.value(forKey: entry.key) == entry.value) }
        #expect(try store.state.value(forKey: Array("no/such/key".utf8)) == nil)
        for pageSize in [1, 3, expected.count, expected.count + 1] {
            let walked = try leafEntries(store.state, pageSize: pageSize)
            #expect(walked.count == expected.count)
            let sorted = walked.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            #expect(sorted.map(\.key) == expected.map(\.key) && sorted.map(\.value) == expected.map(\.value))
        }
    }

    @Test func aTamperedValueBesideItsLeafIsReportedAsCorrupt() throws {
        let (directory, path, _, _, _) = try closedStore(chainOf: 3, appended: 3)
        defer { withExtendedLifetime(directory) {} }
        let did = DID(initialKey: PublicKey(of: citizen))
        let key = StateKey.balance(did)
        #expect(try BlockStore(existingAt: path).state.value(forKey: key) == AmountRecord(100).canonicalBytes)

        try SQLiteConnection(path: path, create: false).prepare("UPDATE state_values SET value = ? WHERE key = ?").run([
            .blob(AmountRecord(1_000_000).canonicalBytes), .blob(key),
        ])
        let error = try #require(throws: StateError.self) { try BlockStore(existingAt: path).state.value(forKey: key) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("does not hash to the leaf's value hash"))

        // The DID's current value gone, its earlier ones kept (a key with no row at all is
        // not in the key filter, which is built from the rows, and reads as absent).
        let didKey = StateKey.did(did)
        try SQLiteConnection(path: path, create: false).prepare(
            "DELETE FROM state_values WHERE location = (SELECT max(location) FROM state_values WHERE key = ?)"
        ).run([.blob(didKey)])
        let missing = try #require(throws: StateError.self) { try BlockStore(existingAt: path).state.value(forKey: didKey) }
        #expect(missing.code == .corrupt)
        #expect(missing.message.hasPrefix("no value is stored beside the leaf at location "))
    }

    @Test func aSchema4StoreIsReadAsItIsAndMigratedWhenTheNodeOpensIt() throws {
        let (directory, path, genesis, blocks, executor) = try closedStore(chainOf: 6, appended: 3)
        defer { withExtendedLifetime(directory) {} }
        let rootBefore = try BlockStore(existingAt: path).state.stateRoot
        let entries = try downgradeValuesToSchema4(path)
        #expect(try schemaVersion(path) == 4)
        #expect(try stateTableKeys(path) == entries.map(\.key))
        let did = DID(initialKey: PublicKey(of: citizen))

        // A reader leaves it as it is and reads every value from the `state` table.
        do {
            let read = try BlockStore(existingAt: path)
            #expect(!read.state.valuesBesideLeaves)
            for entry in entries { #expect(try read.state.value(forKey: entry.key) == entry.value) }
            #expect(try LedgerQueries(backend: read.state).did(did)?.proof.verify() == true)
        }
        #expect(try schemaVersion(path) == 4)

        // The node migrates it: each value beside its leaf, the listed keys alone in `state`.
        let migrated = try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
        #expect(try schemaVersion(path) == BlockStore.schemaVersion)
        #expect(migrated.state.valuesBesideLeaves)
        #expect(migrated.state.stateRoot == rootBefore)
        #expect(try stateTableKeys(path) == entries.map(\.key).filter(StateKey.isListed))
        #expect(try storedValueRows(path).count == entries.count)
        for entry in entries { #expect(try migrated.state.value(forKey: entry.key) == entry.value) }

        // Blocks go on after it, and a reopened store reads the values of both.
        for (block, commit) in blocks.dropFirst(3) { try migrated.appendExecuting(block, commit: commit, executor: executor) }
        let reopened = try BlockStore(existingAt: path)
        let document = try #require(try LedgerQueries(backend: reopened.state).did(did))
        #expect(document.record.version == 7)
        #expect(document.proof.verify())
        #expect(try LedgerQueries(backend: reopened.state).didHistory(did).count == 7)
    }

    @Test func aSchema4StoreWhoseTableDisagreesWithItsTreeIsNotMigrated() throws {
        let (directory, path, genesis, _, _) = try closedStore(chainOf: 2, appended: 2)
        defer { withExtendedLifetime(directory) {} }
        let entries = try downgradeValuesToSchema4(path)
        let key = try #require(entries.first { !StateKey.isListed($0.key) }?.key)
        try SQLiteConnection(path: path, create: false).prepare("UPDATE state SET value = x'00' WHERE key = ?").run([.blob(key)])
        let error = try #require(throws: StoreError.self) {
            try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
        }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("is not the one the state tree holds"))
        // Nothing of the migration stayed: the store is still schema 4, its table whole.
        #expect(try schemaVersion(path) == 4)
        #expect(try stateTableKeys(path) == entries.map(\.key))
    }
}
