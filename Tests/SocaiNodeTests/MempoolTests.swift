import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiNode

@Suite struct MempoolTests {
    static let chainID = try! ChainID("socai-mempool")
    let citizen = try! SigningKey(seed: SHA256.hash(Array("mempool citizen".utf8)))
    let other = try! SigningKey(seed: SHA256.hash(Array("mempool other".utf8)))
    let executor = LedgerExecutor(chainID: MempoolTests.chainID)

    func state() throws -> InMemoryStateBackend {
        let validator = try SigningKey(seed: SHA256.hash(Array("mempool validator".utf8)))
        let genesis = try Genesis(
            file: Genesis.File(
                chainID: Self.chainID.value, genesisTimeMilliseconds: 0,
                validators: [Genesis.ValidatorEntry(name: "v", publicKey: Hex.encode(validator.publicKey), power: 1)],
                governance: Genesis.Governance(keys: [Hex.encode(validator.publicKey)], threshold: 1)))
        let backend = InMemoryStateBackend()
        backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
        return backend
    }

    func envelope(_ payload: some LedgerPayload, _ key: SigningKey, nonce: UInt64) throws -> TransactionEnvelope {
        try payload.envelope(chainID: Self.chainID, key: key, nonce: nonce)
    }

    /// Executes a height-1 block of `transactions` on `backend` and applies its changes, as a
    /// commit would (header fields the executor does not read are left zero).
    func commitBlock(_ transactions: [TransactionEnvelope], on backend: InMemoryStateBackend) throws {
        backend.apply(try executor.execute(block(transactions), on: backend).changes)
    }

    /// A height-1 block of `transactions` (header fields the executor does not read are zero).
    func block(_ transactions: [TransactionEnvelope]) -> Block {
        let header = BlockHeader(
            chainID: Self.chainID, height: 1, timeMilliseconds: 1, previousBlockHash: .zero, lastCommitHash: .zero,
            transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot([]), stateRoot: .zero,
            validatorsHash: .zero, proposer: PublicKey(of: citizen))
        return Block(header: header, lastCommit: nil, transactions: transactions, evidence: [])
    }

    @Test func acceptsInNonceOrderAndRejectsWhatCanNeverApply() throws {
        let backend = try state()
        let mempool = Mempool()
        let did = DID(initialKey: PublicKey(of: citizen))
        let create = try envelope(DIDCreate(did: did), citizen, nonce: 1)
        _ = try mempool.add(create, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        #expect(throws: Mempool.Rejection.duplicate) {
            _ = try mempool.add(create, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        // A nonce gap is refused; the next nonce is accepted even though its rule needs the DID created before it.
        let service = try DIDService(id: "s", type: "T", endpoint: "https://x")
        let gap = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 3)
        #expect(throws: Mempool.Rejection.self) {
            _ = try mempool.add(gap, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        let update = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 2)
        _ = try mempool.add(update, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        // With nothing pending, a transaction that breaks a rule is refused with the rule's name.
        let wrongDID = try envelope(DIDCreate(did: did), other, nonce: 1)
        do {
            _ = try mempool.add(wrongDID, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
            Issue.record("accepted a DID of another key")
        } catch let rejection as Mempool.Rejection {
            guard case .invalid(let code, _) = rejection else { Issue.record("unexpected \(rejection)"); return }
            #expect(code == .didMismatch)
        }
        var forged = try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1)
        forged.nonce = 2
        #expect(throws: Mempool.Rejection.self) {
            _ = try mempool.add(forged, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        #expect(mempool.count == 2)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [create, update])
        #expect(mempool.reap(transactionsMax: 1, bytesMax: 1 << 20) == [create])
    }

    @Test func isBoundedInCountAndBytes() throws {
        let backend = try state()
        let mempool = Mempool(transactionsMax: 1, bytesMax: 1 << 20)
        _ = try mempool.add(
            try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: citizen))), citizen, nonce: 1), executor: executor,
            state: backend, height: 1, timeMilliseconds: 1)
        #expect(throws: Mempool.Rejection.self) {
            _ = try mempool.add(
                try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1), executor: executor,
                state: backend, height: 1, timeMilliseconds: 1)
        }
        let tiny = Mempool(transactionsMax: 10, bytesMax: 100)
        #expect(throws: Mempool.Rejection.self) {
            _ = try tiny.add(
                try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1), executor: executor,
                state: backend, height: 1, timeMilliseconds: 1)
        }
    }

    @Test func updateDropsCommittedAndStaleTransactions() throws {
        let backend = try state()
        let mempool = Mempool()
        let did = DID(initialKey: PublicKey(of: citizen))
        let create = try envelope(DIDCreate(did: did), citizen, nonce: 1)
        let service = try DIDService(id: "s", type: "T", endpoint: "https://x")
        let update = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 2)
        _ = try mempool.add(create, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        _ = try mempool.add(update, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        // A block commits only the first.
        try commitBlock([create], on: backend)
        try mempool.update(committed: [create], state: backend)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [update])
        // Committed transactions are duplicates from now on.
        #expect(throws: Mempool.Rejection.duplicate) {
            _ = try mempool.add(create, executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        }
    }

    @Test("a commit drops what it passed and keeps every other signer's run, with counts and bytes that still agree")
    func updateKeepsOtherSignersAndItsCounts() throws {
        let backend = try state()
        let mempool = Mempool()
        let did = DID(initialKey: PublicKey(of: citizen))
        let service = try DIDService(id: "s", type: "T", endpoint: "https://x")
        let create = try envelope(DIDCreate(did: did), citizen, nonce: 1)
        let update = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 2)
        let otherCreate = try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1)
        for held in [create, update, otherCreate] {
            _ = try mempool.add(held, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        #expect(mempool.bytes == [create, update, otherCreate].map(\.canonicalBytes.count).reduce(0, +))
        // Another node's block commits a different nonce-1 transaction of the citizen: the held
        // create can never apply now; the held update is next in line.
        let rival = try envelope(DIDCreate(did: did, services: [service]), citizen, nonce: 1)
        try commitBlock([rival], on: backend)
        try mempool.update(committed: [rival], state: backend)
        #expect(mempool.count == 2)
        #expect(mempool.contains(create.hash) == false)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [update, otherCreate])
        #expect(mempool.bytes == update.canonicalBytes.count + otherCreate.canonicalBytes.count)
        // The citizen has one transaction ahead now, so nonce 3 is the one that fits.
        let third = try envelope(DIDUpdate(did: did, operations: [.removeService(id: "s")]), citizen, nonce: 3)
        _ = try mempool.add(third, executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [update, otherCreate, third])
    }

    /// Reads through to `inner` until `failing` is set; then every value read throws.
    final class FailingReads: StateBackend {
        let inner: InMemoryStateBackend
        var failing = false
        init(_ inner: InMemoryStateBackend) { self.inner = inner }
        func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? {
            if failing { throw StateError(.storage, "the disk went away") }
            return try inner.value(forKey: key)
        }
        func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
            key: [UInt8], value: [UInt8]
        )] { try inner.entries(withPrefix: prefix, after: after, limit: limit) }
        var stateRoot: Hash { inner.stateRoot }
        var stateRootLocation: UInt64 { inner.stateRootLocation }
        var treeNodes: any SparseMerkleNodeSource { inner.treeNodes }
    }

    @Test("an update that fails to read leaves the mempool whole, and the next one checks every held signer")
    func failedUpdateIsMadeGoodByTheNext() throws {
        let inner = try state()
        let backend = FailingReads(inner)
        let mempool = Mempool()
        let did = DID(initialKey: PublicKey(of: citizen))
        let create = try envelope(DIDCreate(did: did), citizen, nonce: 1)
        let service = try DIDService(id: "s", type: "T", endpoint: "https://x")
        let update = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 2)
        let otherCreate = try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1)
        for held in [create, update, otherCreate] {
            _ = try mempool.add(held, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        let heldBytes = [create, update, otherCreate].map(\.canonicalBytes.count).reduce(0, +)
        // The citizen still has its update held after the create commits: its nonce is read.
        try commitBlock([create], on: inner)
        backend.failing = true
        #expect(throws: StateError.self) { try mempool.update(committed: [create], state: backend) }
        #expect(mempool.count == 3)
        #expect(mempool.bytes == heldBytes)
        // The next block holds neither signer; the committed create must go all the same.
        backend.failing = false
        try mempool.update(committed: [], state: backend)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [update, otherCreate])
        #expect(mempool.bytes == update.canonicalBytes.count + otherCreate.canonicalBytes.count)
        #expect(mempool.contains(create.hash) == false)
    }

    @Test("a signer all of whose held transactions were committed has no nonce read")
    func fullyCommittedSignersAreNotRead() throws {
        let inner = try state()
        let backend = FailingReads(inner)
        let mempool = Mempool()
        let create = try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: citizen))), citizen, nonce: 1)
        let otherCreate = try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: other))), other, nonce: 1)
        for held in [create, otherCreate] {
            _ = try mempool.add(held, executor: executor, state: backend, height: 1, timeMilliseconds: 1)
        }
        try commitBlock([create], on: inner)
        // Every read would fail: the update makes none, as the citizen has nothing left held.
        backend.failing = true
        try mempool.update(committed: [create], state: backend)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [otherCreate])
        #expect(mempool.bytes == otherCreate.canonicalBytes.count)
        #expect(mempool.contains(create.hash) == false)
    }

    @Test("a recently committed transaction is refused as a duplicate without a state read, and an older one by the state")
    func recentlyCommittedTransactionsAreRefusedWithoutAStateRead() throws {
        let inner = try state()
        let backend = FailingReads(inner)
        let mempool = Mempool(transactionsMax: 10, bytesMax: 1 << 20, recentlyCommittedMax: 2)
        let third = try SigningKey(seed: SHA256.hash(Array("mempool third".utf8)))
        let creates = try [citizen, other, third].map { key in
            try envelope(DIDCreate(did: DID(initialKey: PublicKey(of: key))), key, nonce: 1)
        }
        let outcomes = try executor.execute(block(creates), on: inner).outcomes
        #expect(outcomes.map(\.code) == [.ok, .ok, .ok])
        try commitBlock(creates, on: inner)
        mempool.remember(committed: outcomes)
        try mempool.update(committed: creates, state: backend)
        // Every read would fail: the two remembered are refused before any.
        backend.failing = true
        for remembered in creates.suffix(2) {
            #expect(throws: Mempool.Rejection.duplicate) {
                _ = try mempool.add(remembered, executor: executor, state: backend, height: 2, timeMilliseconds: 2)
            }
        }
        // The first went past the bound: the state is asked, and answers that it is committed.
        #expect(throws: StateError.self) {
            _ = try mempool.add(creates[0], executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        }
        backend.failing = false
        #expect(throws: Mempool.Rejection.duplicate) {
            _ = try mempool.add(creates[0], executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        }
        #expect(mempool.count == 0)
    }

    @Test("a committed transaction that left no record, its nonce ahead of its signer's, is not remembered and is accepted later")
    func aCommittedTransactionWithoutARecordIsNotRemembered() throws {
        let backend = try state()
        let mempool = Mempool(transactionsMax: 10, bytesMax: 1 << 20, recentlyCommittedMax: 4)
        let did = DID(initialKey: PublicKey(of: citizen))
        let create = try envelope(DIDCreate(did: did), citizen, nonce: 1)
        let service = try DIDService(id: "s", type: "T", endpoint: "https://x")
        let early = try envelope(DIDUpdate(did: did, operations: [.addService(service)]), citizen, nonce: 2)
        // Another proposer's block holds the update before the creation: it fails its nonce.
        let outcomes = try executor.execute(block([early]), on: backend).outcomes
        #expect(outcomes.map(\.code) == [.badNonce])
        try commitBlock([early], on: backend)
        mempool.remember(committed: outcomes)
        try mempool.update(committed: [early], state: backend)
        // Once the creation is in, the same update is next in line and is accepted.
        _ = try mempool.add(create, executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        _ = try mempool.add(early, executor: executor, state: backend, height: 2, timeMilliseconds: 2)
        #expect(mempool.reap(transactionsMax: 10, bytesMax: 1 << 20) == [create, early])
    }
}
