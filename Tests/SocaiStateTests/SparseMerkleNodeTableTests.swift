import SocaiCore
import Testing

@testable import SocaiState

/// The replay's node table against a dictionary, including the cases linear probing gets
/// wrong: runs that wrap past the last slot, deletions in the middle of a run, growth.
@Suite("State-tree node table")
struct SparseMerkleNodeTableTests {
    @Test("random inserts and removals agree with a dictionary, through growth")
    func agreesWithADictionary() {
        let table = SparseMerkleNodeTable(seed: 7)
        var model: [Hash: SparseMerkleStoredNode] = [:]
        var generator = SeededGenerator(seed: 99)
        let pool = (0..<3000).map { Hash.sha256(Array("node \($0)".utf8)) }
        for step in 0..<40_000 {
            let hash = pool[Int(generator.next() % UInt64(pool.count))]
            // More inserts than removals early, so the table grows past its first capacity.
            if generator.next() % 5 < (step < 20_000 ? 4 : 2) {
                // Internal nodes carry their children's versions through the table too.
                let node =
                    step % 2 == 0
                    ? SparseMerkleStoredNode(.leaf(key: hash, valueHash: Hash.sha256(hash.bytes)))
                    : SparseMerkleStoredNode(.internal(left: hash, right: .zero), leftLocation: UInt64(step), rightLocation: 0)
                let inserted = table.insert(node, hash: hash)
                #expect(inserted == (model[hash] == nil))
                if model[hash] == nil { model[hash] = node }
            } else {
                let removed = table.remove(hash)
                #expect(removed == (model.removeValue(forKey: hash) != nil))
            }
            #expect(table.count == model.count)
        }
        #expect(table.capacity > SparseMerkleNodeTable.capacityInitial)
        for hash in pool { #expect(table.node(hash) == model[hash]) }
        var seen: [Hash: SparseMerkleStoredNode] = [:]
        table.forEachUnordered { seen[$0] = $1 }
        #expect(seen == model)
    }

    @Test("a table sized up front holds that many nodes without growing, from memory large enough to map")
    func sizedTableDoesNotGrow() {
        let expected = 20_000
        let table = SparseMerkleNodeTable(nodesExpected: expected, seed: 5)
        let capacity = table.capacity
        // Above 2 MiB of slots: the zero-filled mapped memory, read as empty slots.
        #expect(capacity * 120 > 2 << 20)
        let hashes = (0..<expected).map { Hash.sha256(Array("sized \($0)".utf8)) }
        for hash in hashes.prefix(100) { #expect(table.node(hash) == nil) }
        for (index, hash) in hashes.enumerated() {
            #expect(table.insert(SparseMerkleStoredNode(.leaf(key: hash, valueHash: hash)), hash: hash), "node \(index)")
        }
        #expect(table.capacity == capacity)
        #expect(table.count == expected)
        for hash in hashes { #expect(table.node(hash) == SparseMerkleStoredNode(.leaf(key: hash, valueHash: hash))) }
        table.removeAll()
        #expect(table.count == 0 && table.capacity == capacity)
        #expect(table.node(hashes[0]) == nil)
        // Filled again, and then past 3/4 of its slots, it grows.
        for hash in hashes { table.insert(SparseMerkleStoredNode(.leaf(key: hash, valueHash: hash)), hash: hash) }
        for index in 0..<(capacity * 3 / 4 - expected + 1) {
            let hash = Hash.sha256(Array("beyond \(index)".utf8))
            table.insert(SparseMerkleStoredNode(.leaf(key: hash, valueHash: hash)), hash: hash)
        }
        #expect(table.capacity == 2 * capacity)
    }

    @Test("hashes that share a slot stay reachable when a run wraps and loses members")
    func collidingRunsSurviveRemovals() {
        // Equal first words give equal home slots for any seed: one long run.
        let shared = Hash.sha256(Array("shared".utf8))
        let colliding = (0..<40).map { index -> Hash in
            var bytes = shared.bytes
            bytes[31] = UInt8(index)
            bytes[20] = 0xAA
            return try! Hash(bytes)
        }
        for seed: UInt64 in [0, 1, 0xDEAD_BEEF] {
            let table = SparseMerkleNodeTable(seed: seed)
            var model = Set<Hash>()
            for hash in colliding {
                table.insert(SparseMerkleStoredNode(.internal(left: hash, right: .zero)), hash: hash)
                model.insert(hash)
            }
            // Remove from the middle, the start and the end of the run, checking every
            // survivor each time.
            for index in [20, 0, 39, 1, 21, 38, 10, 11, 12] {
                let removed = table.remove(colliding[index])
                let removedAgain = table.remove(colliding[index])
                #expect(removed && !removedAgain)
                model.remove(colliding[index])
                for hash in colliding { #expect((table.node(hash) != nil) == model.contains(hash)) }
            }
            #expect(table.count == model.count)
        }
    }

    @Test("emptying a grown table keeps its slots, and it fills again like a new one")
    func emptiedTableKeepsItsSlots() {
        let table = SparseMerkleNodeTable(seed: 11)
        let hashes = (0..<5000).map { Hash.sha256(Array("node \($0)".utf8)) }
        for hash in hashes { table.insert(SparseMerkleStoredNode(.leaf(key: hash, valueHash: hash)), hash: hash) }
        let capacity = table.capacity
        #expect(capacity > SparseMerkleNodeTable.capacityInitial)
        table.removeAll()
        #expect(table.count == 0)
        #expect(table.capacity == capacity)
        for hash in hashes { #expect(table.node(hash) == nil) }
        var seen = 0
        table.forEachUnordered { _, _ in seen += 1 }
        #expect(seen == 0)
        // Refilled with every other hash: exactly those are held, and nothing grew.
        for hash in hashes.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
            #expect(table.insert(SparseMerkleStoredNode(.internal(left: hash, right: .zero), leftLocation: 9), hash: hash))
        }
        #expect(table.count == 2500)
        #expect(table.capacity == capacity)
        for (index, hash) in hashes.enumerated() {
            #expect(
                table.node(hash)
                    == (index % 2 == 0 ? SparseMerkleStoredNode(.internal(left: hash, right: .zero), leftLocation: 9) : nil))
        }
    }

    @Test("a removal of an absent hash changes nothing")
    func absentRemoval() {
        let table = SparseMerkleNodeTable(seed: 3)
        let present = Hash.sha256([1])
        table.insert(SparseMerkleStoredNode(.leaf(key: present, valueHash: present)), hash: present)
        let removed = table.remove(Hash.sha256([2]))
        #expect(!removed)
        #expect(table.count == 1)
        #expect(table.node(present) == SparseMerkleStoredNode(.leaf(key: present, valueHash: present)))
        #expect(table.node(Hash.sha256([2])) == nil)
    }
}
