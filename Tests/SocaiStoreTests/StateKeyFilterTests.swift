import SocaiCore
import SocaiState
import Testing

@testable import SocaiStore

/// The Bloom filter that answers reads of absent state keys without SQLite: it must never
/// call a key it was given absent, and the store must give it every key it commits.
@Suite struct StateKeyFilterTests {
    @Test func everyInsertedKeyIsFoundAndFewAbsentOnesPass() {
        var filter = StateKeyFilter(keysCapacity: 5_000)
        let present = (0..<5_000).map { Array("present/\($0)".utf8) }
        for key in present { filter.insert(key) }
        #expect(present.allSatisfy { filter.mayContain($0) })
        // Counted once each, give or take the keys whose bits were all set already.
        #expect(filter.count > 4_900 && filter.count <= 5_000)
        #expect(!filter.isOverfull)
        // About 1% of absent keys pass at full load; allow some slack for the random seed.
        let absent = (0..<20_000).map { Array("absent/\($0)".utf8) }
        let passed = absent.filter { filter.mayContain($0) }.count
        #expect(passed < 20_000 * 4 / 100, "\(passed) of 20000 absent keys passed")
        for index in 0..<200 { filter.insert(Array("more/\(index)".utf8)) }
        #expect(filter.isOverfull)
    }

    @Test func anEmptyFilterHoldsNothingAndAKeyOfAnyLengthCanBeAdded() {
        var filter = StateKeyFilter(keysCapacity: 1)
        #expect(!filter.mayContain([]) && !filter.mayContain([1, 2, 3]))
        for key in [[], [0], [UInt8](repeating: 0xFF, count: 10_000)] {
            filter.insert(key)
            #expect(filter.mayContain(key))
        }
    }

    @Test func aStoreReadsEveryCommittedKeyThroughItsFilterAsItGrows() throws {
        let base = StateStoreTests()
        let directory = TemporaryDirectory()
        let genesis = try base.genesis()
        let reference = try base.genesisState(genesis)
        let blocks = try base.buildChain(genesis, count: 12, reference: try base.genesisState(genesis))
        // Opened again, so that no read has built a filter yet (writing genesis read the state).
        _ = try base.genesisStore(genesis, in: directory)
        let store = try BlockStore(existingAt: directory.file("chain.sqlite"))
        #expect(store.state.keyFilterCapacity == nil)
        // The smallest filter: it is rebuilt, larger, as blocks add keys.
        store.state.keyFilterKeysInitial = 1
        #expect(try store.state.value(forKey: Array("absent".utf8)) == nil)
        let first = try #require(store.state.keyFilterCapacity)
        let executor = LedgerExecutor(chainID: StateStoreTests.chainID)
        var capacities: Set<Int> = [first]
        for (block, commit) in blocks {
            let execution = try store.appendExecuting(block, commit: commit, executor: executor)
            reference.apply(execution.changes)
            // Every key the state holds reads as the reference has it, new ones included
            // (they are not in the value cache: only held keys follow a commit).
            for entry in try reference.entries(withPrefix: [], after: nil, limit: 10_000) {
                #expect(try store.state.value(forKey: entry.key) == entry.value, "height \(block.header.height)")
            }
            // The absent keys the filter rules out (all but about 1%) are answered without
            // entering the value cache.
            let cachedBefore = store.state.cachedValueCount
            for index in 0..<20 {
                #expect(try store.state.value(forKey: Array("never/\(block.header.height)/\(index)".utf8)) == nil)
            }
            #expect(store.state.cachedValueCount - cachedBefore <= 2)
            if let capacity = store.state.keyFilterCapacity { capacities.insert(capacity) }
        }
        #expect(capacities.count >= 2, "the filter was never rebuilt: \(capacities)")
    }
}
