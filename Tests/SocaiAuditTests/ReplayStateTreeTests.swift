import SocaiCore
import SocaiState
import Testing

@testable import SocaiAudit

/// The replay's own state tree against `SparseMerkleTree`, the validators' implementation of
/// the same docs/FORMAT.md tree: equal roots after every batch, whatever the batches do.
@Suite("Replay state tree")
struct ReplayStateTreeTests {
    /// A fixed xorshift generator: the same batches on every run.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    @Test("random batches of sets and deletions give the validators' roots, and the nodes stay exactly the tree's")
    func agreesWithTheValidatorsTree() throws {
        var generator = Generator(state: 0x5EED_7EE5)
        // Few keys, so batches hit present keys often: updates, deletions, leaves moving up
        // when a sibling goes and down when one arrives. Some keys share long prefixes.
        var pool: [Hash] = []
        for index in 0..<300 {
            // Every tenth key differs from the one before it in the last bit only.
            let previous = pool.last.map { Hash(storage: $0.storage.settingBit(255, to: 1 - $0.storage.bit(255))) }
            pool.append(index % 10 == 9 ? previous! : Hash.sha256(Array("key \(index)".utf8)))
        }
        let validators = InMemorySparseMerkleNodes()
        var validatorsRoot = SparseMerkleNodeReference.empty
        var replay = ReplayStateTree()
        var model: [Hash: Hash] = [:]
        for batch in 0..<400 {
            var changes: [Hash: Hash?] = [:]
            let size = 1 + Int(generator.next() % (batch % 7 == 0 ? 120 : 12))
            for _ in 0..<size {
                let key = pool[Int(generator.next() % UInt64(pool.count))]
                // A third deletions (of present and absent keys alike).
                changes[key] = generator.next() % 3 == 0 ? .some(nil) : Hash.sha256(Array("value \(generator.next() % 5)".utf8))
            }
            let sorted = changes.map { SparseMerkleChange(key: $0.key, valueHash: $0.value) }.sorted { $0.key < $1.key }
            let update = try SparseMerkleTree(root: validatorsRoot, nodes: validators).updating(
                sorted, version: validators.nextVersion)
            validators.insert(update)
            validatorsRoot = update.rootReference
            for change in sorted { model[change.key] = change.valueHash }

            #expect(replay.apply(sorted) == validatorsRoot.hash, "batch \(batch)")
            let (leaves, reachable) = replay.walk()
            #expect(reachable == replay.nodeCount, "batch \(batch): nodes held that the root does not reach")
            #expect(leaves.map(\.key) == model.keys.sorted(), "batch \(batch)")
            #expect(leaves.map(\.valueHash) == model.keys.sorted().map { model[$0]! }, "batch \(batch)")
        }
        #expect(!model.isEmpty)
        // Delete everything: back to the empty tree, with no node held.
        let clearing = model.keys.sorted().map { SparseMerkleChange(key: $0, valueHash: nil) }
        #expect(replay.apply(clearing) == SparseMerkleTree.emptyRoot)
        #expect(replay.nodeCount == 0)
    }

    @Test("a value set back to the same value changes nothing")
    func rewritingAValueKeepsTheRoot() {
        var replay = ReplayStateTree()
        let keys = (0..<50).map { Hash.sha256([UInt8($0)]) }
        let root = replay.apply(keys.sorted().map { SparseMerkleChange(key: $0, valueHash: Hash.sha256($0.bytes)) })
        let nodes = replay.nodeCount
        #expect(replay.apply([SparseMerkleChange(key: keys.sorted()[7], valueHash: Hash.sha256(keys.sorted()[7].bytes))]) == root)
        #expect(replay.nodeCount == nodes)
    }
}
