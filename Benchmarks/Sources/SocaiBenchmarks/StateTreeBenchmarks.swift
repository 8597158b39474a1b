import Dispatch
import SocaiCore
import SocaiState

/// `make bench`, state tree part: the cost of one block's state-root update against trees
/// of 10^4, 10^5 and 10^6 entries held in memory, to show that it grows with log(size),
/// not with size.
enum StateTreeBenchmarks {
    /// Changed keys in one measured block.
    static let changesPerBlock = 100
    /// Of those, keys that already exist and get a new value; the rest are new keys.
    static let updatedKeysPerBlock = 75
    /// Tree sizes measured, in entries; each tree grows from the previous one.
    static let treeEntries = [10_000, 100_000, 1_000_000]
    /// Entries inserted per batch while growing a tree: big batches keep the build short,
    /// and the batch update is the same code path a block takes.
    static let buildBatchEntries = 100_000
    /// Proofs sampled to measure the mean depth of a key.
    static let depthSamples = 2_000

    static func run() throws {
        print("\nState tree (sparse Merkle tree, in-memory nodes): one block's state-root update,")
        print("\(changesPerBlock) changed keys (\(updatedKeysPerBlock) updated, \(changesPerBlock - updatedKeysPerBlock) new).")
        print("Each figure is the best of 3 runs of at least \(SocaiBenchmarks.measurementSecondsMin) s of blocks.\n")

        let store = InMemorySparseMerkleNodes()
        let counting = CountingNodes(store)
        var root = SparseMerkleNodeReference.empty
        var entries = 0
        for size in treeEntries {
            let buildStart = DispatchTime.now().uptimeNanoseconds
            while entries < size {
                let count = min(buildBatchEntries, size - entries)
                let changes = (entries..<(entries + count)).map { SparseMerkleChange(key: key($0), valueHash: value($0, 0)) }
                let update = try SparseMerkleTree(root: root, nodes: store).updating(changes, version: store.nextVersion)
                store.insert(update)
                root = update.rootReference
                entries += count
            }
            let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - buildStart) / 1e9

            // Every measured block is computed against the same root and not persisted, so
            // the tree stays at `size` entries however many blocks run.
            let tree = SparseMerkleTree(root: root, nodes: counting)
            var generator = SplitMix64(seed: UInt64(size))
            var bestMicroseconds = Double.infinity
            var reads = 0
            var blocks = 0
            var newNodes = 0
            for _ in 0..<3 {
                var elapsed: UInt64 = 0
                var roundBlocks = 0
                while Double(elapsed) / 1e9 < SocaiBenchmarks.measurementSecondsMin {
                    var changes: [SparseMerkleChange] = []
                    var chosen: Set<Int> = []
                    while chosen.count < updatedKeysPerBlock { chosen.insert(Int(generator.next() % UInt64(size))) }
                    for index in chosen {
                        changes.append(SparseMerkleChange(key: key(index), valueHash: value(index, blocks + 1)))
                    }
                    for offset in 0..<(changesPerBlock - updatedKeysPerBlock) {
                        let index = size + blocks * changesPerBlock + offset  // never inserted: a new key
                        changes.append(SparseMerkleChange(key: key(index), valueHash: value(index, 0)))
                    }
                    counting.reads = 0
                    let start = DispatchTime.now().uptimeNanoseconds
                    let update = try tree.updating(changes, version: store.nextVersion)
                    elapsed += DispatchTime.now().uptimeNanoseconds - start
                    reads += counting.reads
                    newNodes += update.nodes.count
                    roundBlocks += 1
                    blocks += 1
                }
                bestMicroseconds = min(bestMicroseconds, Double(elapsed) / 1e3 / Double(roundBlocks))
            }

            var depthTotal = 0
            for _ in 0..<depthSamples {
                depthTotal += try tree.proof(for: key(Int(generator.next() % UInt64(size)))).siblings.count
            }

            let label = "\(SocaiBenchmarks.format(Double(size))) entries"
            SocaiBenchmarks.report("state root update, \(label)", bestMicroseconds, "µs/block")
            SocaiBenchmarks.report("  node reads per update", Double(reads) / Double(blocks), "reads/block")
            SocaiBenchmarks.report("  new nodes per update", Double(newNodes) / Double(blocks), "nodes/block")
            let depth = format1(Double(depthTotal) / Double(depthSamples))
            print(SocaiBenchmarks.pad("  mean key depth", 44) + SocaiBenchmarks.pad(depth, 20) + "levels")
            print(
                "  (grown to \(label) in \(format1(buildSeconds)) s by batches of \(SocaiBenchmarks.format(Double(buildBatchEntries))); "
                    + "\(SocaiBenchmarks.format(Double(store.count))) nodes held, every version kept)")
        }
        print("\nReads and time per block grow with the depth (about log2 of the entries), not with the entries.")
    }

    /// Key `index`: SHA-256 of its 8 big-endian bytes, as the state machine hashes its keys.
    static func key(_ index: Int) -> Hash {
        Hash.sha256(withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) })
    }

    /// A value hash for `index` at `version`.
    static func value(_ index: Int, _ version: Int) -> Hash {
        Hash.sha256(withUnsafeBytes(of: (UInt64(index).bigEndian, UInt64(version).bigEndian)) { Array($0) })
    }

    /// One decimal place.
    static func format1(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// Counts the reads a tree makes through it.
private final class CountingNodes: SparseMerkleNodeSource {
    let inner: InMemorySparseMerkleNodes
    var reads = 0

    init(_ inner: InMemorySparseMerkleNodes) { self.inner = inner }

    func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes? {
        reads += 1
        return inner.node(reference)
    }
}

/// SplitMix64: a small seeded generator, so every run measures the same blocks.
private struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
