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
        let old = try queries.proof(
            forKey: StateKey.did(did), root: try #require(try reopened.state.stateRoot(atHeight: 1)),
            valueAtRoot: .some(first.proof.value))
        #expect(old.verify())
    }

    @Test func aBlockWithAWrongStateRootIsRefusedAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        let genesis = try genesis()
        let reference = InMemoryStateBackend()
        reference.apply(try LedgerExecutor.genesisChanges(genesis, on: reference))
        let blocks = try buildChain(genesis, count: 2, reference: reference)
        let store = try BlockStore(path: directory.file("chain.sqlite"), chainID: Self.chainID, genesisHash: genesis.hash)
        try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
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
        do {
            let raw = try SQLiteConnection(path: path, create: false)
            let select = try raw.cached("SELECT node FROM state_nodes WHERE hash = ?")
            try select.bind([.blob(root.bytes)])
            #expect(try select.step())
            let stored = select.blob(0)
            let tampered = stored.enumerated().map { $0.offset == 40 ? $0.element ^ 0x01 : $0.element }
            try raw.cached("UPDATE state_nodes SET node = ? WHERE hash = ?").run([.blob(tampered), .blob(root.bytes)])
        }
        // A fresh process has nothing cached: the node is checked as it is read, and refused.
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.state.checkedNode(root) == nil)
        let did = DID(initialKey: PublicKey(of: citizen))
        let error = try #require(throws: StateError.self) { _ = try LedgerQueries(backend: reopened.state).did(did) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("read back as bytes hashing to"), "\(error.message)")
    }

    @Test func theCheckedNodeCacheKeepsTwoGenerationsAndPromotesWhatIsUsed() throws {
        var cache = CheckedNodeCache(generationNodesMax: 4)
        func node(_ index: Int) -> (Hash, SparseMerkleNode) {
            let node = SparseMerkleNode.leaf(key: Hash.sha256([UInt8(index)]), valueHash: Hash.sha256([UInt8(index), 1]))
            return (node.hash, node)
        }
        for index in 0..<4 {
            let (hash, value) = node(index)
            cache.insert(value, hash: hash)
        }
        #expect(cache.count == 4)
        // The fifth starts a new generation; the first four become the old one.
        let (fifthHash, fifth) = node(4)
        cache.insert(fifth, hash: fifthHash)
        #expect(cache.count == 5)
        // Node 0, used now, moves to the young generation and survives the next turnover.
        #expect(cache.node(node(0).0) == node(0).1)
        for index in 5..<8 {
            let (hash, value) = node(index)
            cache.insert(value, hash: hash)
        }
        #expect(cache.count <= 8)
        #expect(cache.node(node(0).0) == node(0).1)
        #expect(cache.node(node(1).0) == nil)
        // Never more than two generations, however many nodes pass through.
        for index in 8..<40 {
            let (hash, value) = node(index)
            cache.insert(value, hash: hash)
            #expect(cache.count <= 8)
        }
    }
}
