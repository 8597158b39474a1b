import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiStore

/// The ledger state kept in SQLite beside the blocks, one SQLite transaction per block.
@Suite struct StateStoreTests {
    static let chainID = try! ChainID("socai-state-store")
    let validators = (1...4).map { try! SigningKey(seed: SHA256.hash(Array("state validator \($0)".utf8))) }
    let citizen = try! SigningKey(seed: SHA256.hash(Array("state citizen".utf8)))

    func genesis() throws -> Genesis {
        try Genesis(
            file: Genesis.File(
                chainID: Self.chainID.value, genesisTimeMilliseconds: 1_000,
                validators: validators.map { Genesis.ValidatorEntry(name: "v", publicKey: Hex.encode($0.publicKey), power: 1) },
                governance: Genesis.Governance(keys: [Hex.encode(validators[0].publicKey)], threshold: 1),
                accounts: [Genesis.AccountEntry(publicKey: Hex.encode(citizen.publicKey), balance: 100)]))
    }

    /// A backend holding the genesis state.
    func genesisState(_ genesis: Genesis) throws -> InMemoryStateBackend {
        let backend = InMemoryStateBackend()
        backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
        return backend
    }

    /// A new store in `directory` with the genesis state written; `nodesPerPage` 32 makes it
    /// as schemas 2 and 3 did.
    func genesisStore(
        _ genesis: Genesis, in directory: TemporaryDirectory, nodesPerPage: UInt64 = StateDatabase.nodesPerPageForNewStores
    ) throws -> BlockStore {
        let store = try BlockStore(
            path: directory.file("chain.sqlite"), chainID: Self.chainID, genesisHash: genesis.hash,
            nodesPerPageIfNew: nodesPerPage)
        try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
        return store
    }

    /// Builds `count` blocks, each creating or updating the citizen's DID, executed on `reference`.
    func buildChain(_ genesis: Genesis, count: Int, reference: InMemoryStateBackend) throws -> [(Block, CommitCertificate)] {
        let executor = LedgerExecutor(chainID: Self.chainID)
        var chain = try DevelopmentChain(
            chainID: Self.chainID, genesisHash: genesis.hash, validatorKeys: validators, validatorSet: genesis.validatorSet)
        let did = DID(initialKey: PublicKey(of: citizen))
        var blocks: [(Block, CommitCertificate)] = []
        for index in 1...count {
            let service = try DIDService(id: "s\(index)", type: "Hub", endpoint: "https://hub.example/\(index)")
            // The citizen's DID exists from genesis (funded accounts get one): each block updates it.
            let payload = DIDUpdate(did: did, operations: [.addService(service)])
            let transaction = try payload.envelope(chainID: Self.chainID, key: citizen, nonce: UInt64(index))
            let (block, commit) = try chain.nextBlock(
                transactions: [transaction], timeMilliseconds: 1_000 + UInt64(index) * 1_000
            ) {
                (draft: Block) throws(StateError) in try executor.execute(draft, on: reference).stateRoot
            }
            let execution = try executor.execute(block, on: reference)
            #expect(execution.outcomes.map(\.code) == [.ok])
            reference.apply(execution.changes)
            blocks.append((block, commit))
        }
        return blocks
    }

    @Test func blocksAndStateCommitTogetherAndSurviveReopening() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let genesis = try genesis()
        let reference = InMemoryStateBackend()
        reference.apply(try LedgerExecutor.genesisChanges(genesis, on: reference))
        let genesisRoot = reference.stateRoot
        let blocks = try buildChain(genesis, count: 5, reference: reference)
        let executor = LedgerExecutor(chainID: Self.chainID)
        do {
            let store = try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
            try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
            #expect(store.state.stateRoot == genesisRoot)
            for (block, commit) in blocks { try store.appendExecuting(block, commit: commit, executor: executor) }
            #expect(store.state.stateRoot == reference.stateRoot)
            // A plain append would bypass execution: refused once state is kept.
            #expect(throws: StoreError.self) { try store.append(blocks[0].0, commit: blocks[0].1) }
        }
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.height == 5)
        #expect(reopened.state.height == 5)
        #expect(reopened.state.stateRoot == reference.stateRoot)
        #expect(try reopened.state.stateRoot(atHeight: 0) == genesisRoot)
        #expect(try reopened.state.stateRoot(atHeight: 5) == blocks[4].0.header.stateRoot)
        let result = try #require(try reopened.state.transactionResult(blocks[2].0.transactions[0].hash))
        #expect(result.height == 3)
        #expect(result.code == 0)

        // Queries read from SQLite and prove against the stored root.
        let queries = LedgerQueries(backend: reopened.state)
        let did = DID(initialKey: PublicKey(of: citizen))
        let document = try #require(try queries.did(did))
        #expect(document.record.version == 6)
        #expect(document.proof.verify())
        #expect(try queries.didHistory(did).count == 6)
        let (credits, proof) = try queries.balance(did)
        #expect(credits == 100)
        #expect(proof.verify())
        // An older root proves the older version.
        let first = try #require(try queries.did(did, version: 2))
        let rootAtHeight1 = try #require(try reopened.state.stateRootReference(atHeight: 1))
        let old = try queries.proof(
            forKey: StateKey.did(did), root: rootAtHeight1,
            valueAtRoot: .some(first.proof.value))
        #expect(old.verify())
    }

    @Test func aBlockWithAWrongStateRootIsRefusedAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        let genesis = try genesis()
        let blocks = try buildChain(genesis, count: 2, reference: try genesisState(genesis))
        let store = try genesisStore(genesis, in: directory)
        let rootBefore = store.state.stateRoot
        // Block 1 signed with a state root that is not what execution gives.
        var chain = try DevelopmentChain(
            chainID: Self.chainID, genesisHash: genesis.hash, validatorKeys: validators, validatorSet: genesis.validatorSet)
        let forged = chain.nextBlock(
            transactions: blocks[0].0.transactions, timeMilliseconds: blocks[0].0.header.timeMilliseconds,
            stateRoot: Hash.sha256([1]))
        do {
            try store.appendExecuting(forged.block, commit: forged.commit, executor: LedgerExecutor(chainID: Self.chainID))
            Issue.record("accepted a wrong state root")
        } catch { #expect(error.code == .invalidBlock) }
        #expect(store.height == 0)
        #expect(store.state.stateRoot == rootBefore)
        #expect(try store.state.stateRoot(atHeight: 1) == nil)
        try store.appendExecuting(blocks[0].0, commit: blocks[0].1, executor: LedgerExecutor(chainID: Self.chainID))
        #expect(store.height == 1)
    }

    @Test func aTamperedTreeNodeIsFoundWhenReadBackAfterReopening() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let genesis = try genesis()
        let reference = InMemoryStateBackend()
        reference.apply(try LedgerExecutor.genesisChanges(genesis, on: reference))
        let blocks = try buildChain(genesis, count: 3, reference: reference)
        do {
            let store = try BlockStore(path: path, chainID: Self.chainID, genesisHash: genesis.hash)
            try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
            let executor = LedgerExecutor(chainID: Self.chainID)
            for (block, commit) in blocks { try store.appendExecuting(block, commit: commit, executor: executor) }
        }
        // Flip one bit of the root node's stored bytes, behind the store's back.
        let root = reference.stateRoot
        let rootReference = try #require(try BlockStore(existingAt: path).state.stateRootReference(atHeight: 3))
        #expect(rootReference.hash == root)
        do {
            let raw = try SQLiteConnection(path: path, create: false)
            let page = Int64(rootReference.location / StateDatabase.nodesPerPageForNewStores)
            let start = Int(rootReference.location % StateDatabase.nodesPerPageForNewStores) * StateDatabase.pageEntryBytes
            let select = try raw.cached("SELECT nodes FROM state_node_pages WHERE page = ?")
            try select.bind([.integer(page)])
            #expect(try select.step())
            var stored = select.blob(0)
            select.reset()
            #expect(Hash.sha256(Array(stored[start..<(start + SparseMerkleNode.byteCount)])) == root)
            stored[start + 40] ^= 0x01
            try raw.cached("UPDATE state_node_pages SET nodes = ? WHERE page = ?").run([.blob(stored), .integer(page)])
        }
        // A fresh process has nothing cached: the node is checked as it is read, and refused.
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.state.checkedNode(rootReference) == nil)
        let did = DID(initialKey: PublicKey(of: citizen))
        let error = try #require(throws: StateError.self) { _ = try LedgerQueries(backend: reopened.state).did(did) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("read back as bytes hashing to"), "\(error.message)")
    }

    /// `count` leaves made by the tree update of `version`, numbered from ordinal 0, as a
    /// block's new nodes are.
    static func committedNodes(version: UInt64, count: Int) -> [SparseMerkleNodeEntry] {
        (0..<count).map { ordinal in
            let node = SparseMerkleNode.leaf(key: Hash.sha256(Array("node \(version) \(ordinal)".utf8)), valueHash: .zero)
            let location = SparseMerkleNodeLocation.location(version: version, ordinal: UInt64(ordinal))
            return SparseMerkleNodeEntry(SparseMerkleNodeReference(hash: node.hash, location: location), stored: .init(node))
        }
    }

    @Test func theCheckedNodeCacheFindsARecentBlocksNodesByLocationAndDropsTheOldestBlocksFirst() throws {
        let stride = MemoryLayout<SparseMerkleNodeEntry>.stride
        let blocks = (1...5).map { Self.committedNodes(version: UInt64($0) * 2, count: 40) }
        // Room for three blocks' lists, counted by capacity.
        let budget = blocks.prefix(3).map { $0.capacity * stride }.reduce(0, +)
        var cache = CheckedNodeCache(recentEntryBytesMax: budget, readBackGenerationNodesMax: 8)
        for block in blocks.prefix(3) {
            cache.keep(committed: block, version: SparseMerkleNodeLocation.version(of: block[0].location))
        }
        #expect(cache.recentBlocks == 3)
        for block in blocks.prefix(3) {
            for entry in block {
                #expect(cache.node(SparseMerkleNodeReference(hash: entry.hash, location: entry.location)) == entry.stored)
            }
        }
        let held = blocks[1][7]
        // The right location with another hash, a version between two held ones, and an
        // ordinal past the block's last node are all misses, left to SQLite.
        #expect(cache.node(SparseMerkleNodeReference(hash: blocks[1][8].hash, location: held.location)) == nil)
        #expect(
            cache.node(
                SparseMerkleNodeReference(hash: held.hash, location: SparseMerkleNodeLocation.location(version: 5, ordinal: 7)))
                == nil)
        #expect(
            cache.node(
                SparseMerkleNodeReference(hash: held.hash, location: SparseMerkleNodeLocation.location(version: 4, ordinal: 40)))
                == nil)
        // Two more blocks push the two oldest out; nothing of theirs is answered, and nothing
        // went to the read-back generations.
        for block in blocks.dropFirst(3) {
            cache.keep(committed: block, version: SparseMerkleNodeLocation.version(of: block[0].location))
        }
        #expect(cache.recentBlocks == 3)
        #expect(cache.recentEntryBytes <= budget)
        for block in blocks.prefix(2) {
            for entry in block {
                #expect(cache.node(SparseMerkleNodeReference(hash: entry.hash, location: entry.location)) == nil)
            }
        }
        for block in blocks.dropFirst(2) {
            for entry in block {
                #expect(cache.node(SparseMerkleNodeReference(hash: entry.hash, location: entry.location)) == entry.stored)
            }
        }
        #expect(cache.readBackCount == 0)
        // A block that changed nothing adds nothing.
        cache.keep(committed: [], version: 12)
        #expect(cache.recentBlocks == 3)
    }

    @Test func listsThatLeaveTheRecentBlocksAreHandedBackEmptyWithTheirStorage() throws {
        func list(_ version: UInt64) -> [SparseMerkleNodeEntry] {
            var list = Self.committedNodes(version: version, count: 40)
            list.reserveCapacity(64)
            return list
        }
        /// Where each version's list has its storage.
        typealias Addresses = [UInt64: UnsafePointer<SparseMerkleNodeEntry>?]
        /// Keeps a list for each of `versions` in `cache`, dropping each one's own reference
        /// after (as a validator's is dropped at its commit, leaving the cache the only one),
        /// and answers where each list's storage is.
        func keepLists(_ versions: ClosedRange<UInt64>, in cache: inout CheckedNodeCache) -> Addresses {
            var addresses: Addresses = [:]
            for version in versions {
                var kept = list(version)
                addresses[version] = kept.withUnsafeBufferPointer { $0.baseAddress }
                cache.keep(committed: kept, version: version)
                kept = []
            }
            return addresses
        }
        // Room for two lists: each has the capacity the allocator gave this one.
        let capacity = list(0).capacity
        let budget = 2 * capacity * MemoryLayout<SparseMerkleNodeEntry>.stride
        var cache = CheckedNodeCache(recentEntryBytesMax: budget, readBackGenerationNodesMax: 8)
        #expect(cache.takeReusableList(capacity: capacity).capacity == 0)
        let addresses = keepLists(1...5, in: &cache)
        // Versions 1 to 3 left (two lists fit the budget); the newest two of them are kept
        // for reuse, each emptied in its own storage.
        #expect(cache.recentBlocks == 2)
        // A list is handed out only for a need it fits: not one larger than it holds, nor
        // one so small that the list would hold more than twice the room.
        #expect(cache.takeReusableList(capacity: capacity + 1).capacity == 0)
        #expect(cache.takeReusableList(capacity: capacity / (CheckedNodeCache.reusableListSlackMax + 1)).capacity == 0)
        let reused = (0..<3).map { _ in cache.takeReusableList(capacity: capacity / 2 + 1) }
        #expect(reused[0].isEmpty && reused[1].isEmpty && reused[2].capacity == 0)
        let reusedAddresses = Set(reused.prefix(2).map { list in list.withUnsafeBufferPointer { $0.baseAddress } })
        #expect(reusedAddresses == Set([addresses[2]!, addresses[3]!]))
        // Past the reuse bound (together), the oldest list kept gives way to the newest: with
        // room for one recent list and one reusable one, the sixth leaves when the seventh
        // comes and is kept; the seventh leaves when the eighth comes and replaces it.
        let listBytes = capacity * MemoryLayout<SparseMerkleNodeEntry>.stride
        var small = CheckedNodeCache(
            recentEntryBytesMax: listBytes, readBackGenerationNodesMax: 8, reusableListBytesMax: listBytes)
        let listAddresses = keepLists(6...8, in: &small)
        #expect(small.recentBlocks == 1)
        let taken = small.takeReusableList(capacity: capacity)
        #expect(taken.capacity == capacity)
        #expect(taken.withUnsafeBufferPointer { $0.baseAddress } == listAddresses[7]!)
        #expect(small.takeReusableList(capacity: capacity).capacity == 0)
        // A list larger than the whole bound is let go of.
        var none = CheckedNodeCache(recentEntryBytesMax: 0, readBackGenerationNodesMax: 8, reusableListBytesMax: listBytes - 1)
        none.keep(committed: list(9), version: 9)
        #expect(none.takeReusableList(capacity: capacity).capacity == 0)
    }

    @Test func theCheckedNodeCacheKeepsTwoReadBackGenerationsAndPromotesWhatIsUsed() throws {
        var cache = CheckedNodeCache(recentEntryBytesMax: 0, readBackGenerationNodesMax: 4)
        func node(_ index: Int) -> (SparseMerkleNodeReference, SparseMerkleStoredNode) {
            let node = SparseMerkleNode.leaf(key: Hash.sha256([UInt8(index)]), valueHash: Hash.sha256([UInt8(index), 1]))
            return (SparseMerkleNodeReference(hash: node.hash, location: UInt64(index)), SparseMerkleStoredNode(node))
        }
        for index in 0..<4 {
            let (reference, value) = node(index)
            cache.insert(value, hash: reference.hash)
        }
        #expect(cache.readBackCount == 4)
        // The fifth starts a new generation; the first four become the old one.
        let (fifth, fifthNode) = node(4)
        cache.insert(fifthNode, hash: fifth.hash)
        #expect(cache.readBackCount == 5)
        // Node 0, used now, moves to the young generation and survives the next turnover.
        #expect(cache.node(node(0).0) == node(0).1)
        for index in 5..<8 {
            let (reference, value) = node(index)
            cache.insert(value, hash: reference.hash)
        }
        #expect(cache.readBackCount <= 8)
        #expect(cache.node(node(0).0) == node(0).1)
        #expect(cache.node(node(1).0) == nil)
        // Never more than two generations, however many nodes pass through.
        for index in 8..<40 {
            let (reference, value) = node(index)
            cache.insert(value, hash: reference.hash)
            #expect(cache.readBackCount <= 8)
        }
        // A budget of no bytes keeps no recent block.
        cache.keep(committed: Self.committedNodes(version: 3, count: 5), version: 3)
        #expect(cache.recentBlocks == 0)
    }

    @Test func cachedValuesFollowCommitsAndNeverARolledBackWrite() throws {
        let directory = TemporaryDirectory()
        let genesis = try genesis()
        let blocks = try buildChain(genesis, count: 2, reference: try genesisState(genesis))
        let reference = try genesisState(genesis)
        let executor = LedgerExecutor(chainID: Self.chainID)
        let store = try genesisStore(genesis, in: directory)
        let did = DID(initialKey: PublicKey(of: citizen))
        let account = StateKey.account(PublicKey(of: citizen))
        // Read once so both are cached: the DID document as a record, the account as absent.
        let genesisDocument = try #require(try store.state.record(DIDRecord.self, forKey: StateKey.did(did)))
        #expect(try store.state.value(forKey: account) == nil)

        // Block 1's changes written in a transaction that then fails: nothing cached moves.
        let execution = try executor.execute(blocks[0].0, on: store.state)
        #expect(throws: StoreError.self) {
            try store.connection.inTransaction { () throws(StoreError) in
                try store.state.write(execution.changes, height: 1, outcomes: execution.outcomes)
                throw StoreError(.database, "injected failure after the state was written")
            }
        }
        #expect(try store.state.record(DIDRecord.self, forKey: StateKey.did(did)) == genesisDocument)
        #expect(try store.state.value(forKey: account) == nil)
        // Nor are its tree nodes served: SQLite dropped their rows, and the cache never took them.
        #expect(!execution.changes.treeNodes.isEmpty)
        for entry in execution.changes.treeNodes {
            #expect(store.state.checkedNode(SparseMerkleNodeReference(hash: entry.hash, location: entry.location)) == nil)
        }

        // Committed for real, block after block: every changed key reads as the reference has it,
        // held keys and keys never read alike, in bytes and as records.
        for (block, commit) in blocks {
            let committed = try store.appendExecuting(block, commit: commit, executor: executor)
            reference.apply(committed.changes)
            for change in committed.changes.values {
                #expect(try store.state.value(forKey: change.key) == reference.value(forKey: change.key))
            }
            let document = try #require(try store.state.record(DIDRecord.self, forKey: StateKey.did(did)))
            #expect(document.canonicalBytes == (try reference.value(forKey: StateKey.did(did))))
            #expect(try store.state.record(AccountRecord.self, forKey: account)?.nonce == block.header.height)
        }
        #expect(try store.state.record(DIDRecord.self, forKey: StateKey.did(did))?.services.count == 2)
    }

    @Test func theStateValueCacheIsBoundedAndTakesOnlyHeldKeysFromACommit() {
        var cache = StateValueCache(generationEntriesMax: 4, generationBytesMax: 8_192)
        func key(_ index: Int) -> [UInt8] { Array("key/\(index)".utf8) }
        for index in 0..<4 { cache.insert(key(index), [UInt8(index)]) }
        #expect(cache.count == 4)
        cache.insert(key(4), nil)
        #expect(cache.count == 5)
        // Key 0, read now, moves to the young generation and survives the next turnover.
        #expect(cache.entry(key(0))?.bytes == [0])
        for index in 5..<8 { cache.insert(key(index), [UInt8(index)]) }
        #expect(cache.entry(key(0))?.bytes == [0])
        #expect(cache.entry(key(1)) == nil)
        for index in 8..<60 {
            cache.insert(key(index), [UInt8(index)])
            #expect(cache.count <= 8)
            #expect(cache.bytes <= 2 * 8_192)
        }
        // A commit changes held keys (to a value or to absent) and leaves others out.
        cache.committed([
            StateEntryChange(key: key(59), value: [9, 9]), StateEntryChange(key: key(58), value: nil),
            StateEntryChange(key: key(1_000), value: [1]),
        ])
        #expect(cache.entry(key(59))?.bytes == [9, 9])
        #expect(cache.entry(key(58)).map { $0.bytes == nil } == true)
        #expect(cache.entry(key(1_000)) == nil)
        // A value over the largest held is returned but not kept; the byte bound holds too.
        let large = [UInt8](repeating: 7, count: StateValueCache.valueBytesMax + 1)
        #expect(cache.insert(key(2_000), large).bytes == large)
        #expect(cache.entry(key(2_000)) == nil)
        var byBytes = StateValueCache(generationEntriesMax: 1_000, generationBytesMax: 8_192)
        for index in 0..<20 {
            byBytes.insert(key(index), [UInt8](repeating: 1, count: 4_000))
            #expect(byBytes.bytes <= 2 * 8_192)
        }
        #expect(byBytes.count <= 4)
        // A held key changed to a value too large to hold is dropped, and one in the old
        // generation takes its new value in the young one.
        var changing = StateValueCache(generationEntriesMax: 8, generationBytesMax: 8_192)
        for index in 0..<9 { changing.insert(key(index), [UInt8(index)]) }
        changing.committed([StateEntryChange(key: key(8), value: large), StateEntryChange(key: key(3), value: [33])])
        #expect(changing.entry(key(8)) == nil)
        #expect(changing.entry(key(3))?.bytes == [33])
        // A young key whose new value would take its generation past the byte bound ages the
        // generation instead of growing it.
        changing.insert(key(20), [UInt8](repeating: 2, count: 4_000))
        let largest = [UInt8](repeating: 5, count: StateValueCache.valueBytesMax)
        changing.committed([StateEntryChange(key: key(3), value: largest)])
        #expect(changing.bytes <= 2 * 8_192)
        #expect(changing.entry(key(3))?.bytes == largest)
        #expect(changing.entry(key(20))?.bytes == [UInt8](repeating: 2, count: 4_000))
    }
}
