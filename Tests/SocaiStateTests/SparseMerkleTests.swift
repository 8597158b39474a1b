import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

/// The state tree against its specification (docs/FORMAT.md, "State tree (sparse Merkle
/// tree)") and against a naive reference written here from that text.
@Suite("Sparse Merkle tree")
struct SparseMerkleTests {
    @Test("the empty tree has root zero, holds nothing and proves it")
    func emptyTree() throws {
        let tree = SparseMerkleTree(nodes: InMemorySparseMerkleNodes())
        #expect(tree.root == .zero)
        #expect(SparseMerkleTree.emptyRoot == .zero)
        let key = smtKey(1)
        #expect(try tree.valueHash(for: key) == nil)
        let proof = try tree.proof(for: key)
        #expect(proof.siblings.isEmpty && proof.terminal == .empty)
        #expect(proof.verify(root: .zero, key: key, valueHash: nil))
        #expect(!proof.verify(root: .zero, key: key, valueHash: smtValue(1)))
        #expect(proof.canonicalBytes == [1, 0, 0, 0])
        #expect(try tree.updating([]).root == .zero)
        let deletion = try tree.updating([SparseMerkleChange(key: key, valueHash: nil)])
        #expect(deletion.root == .zero && deletion.nodes.isEmpty)
    }

    @Test("one key: the root is its leaf hash, and the leaf is the only new node")
    func singleInsert() throws {
        let store = InMemorySparseMerkleNodes()
        let key = smtKey(7)
        let value = smtValue(7)
        let update = try SparseMerkleTree(nodes: store).updating([SparseMerkleChange(key: key, valueHash: value)])
        let leafBytes = [0x00] + key.bytes + value.bytes
        #expect(update.root == Hash.sha256(leafBytes))
        #expect(update.nodes.mapValues(\.canonicalBytes) == [update.root: leafBytes])
        store.insert(update)
        let tree = SparseMerkleTree(after: update, nodes: store)
        #expect(tree.rootLocation == SparseMerkleNodeLocation.location(version: update.version, ordinal: 0))
        #expect(try tree.valueHash(for: key) == value)
        #expect(try tree.valueHash(for: smtKey(8)) == nil)
        let proof = try tree.proof(for: key)
        #expect(proof.siblings.isEmpty)
        #expect(proof.verify(root: update.root, key: key, valueHash: value))
    }

    @Test("insert, update and delete round trips")
    func roundTrips() throws {
        let store = InMemorySparseMerkleNodes()
        var tree = SparseMerkleTree(nodes: store)
        let keys = (0..<20).map(smtKey)
        tree = try apply(keys.enumerated().map { SparseMerkleChange(key: $1, valueHash: smtValue($0)) }, to: tree, store)
        for (index, key) in keys.enumerated() { #expect(try tree.valueHash(for: key) == smtValue(index)) }

        tree = try apply([SparseMerkleChange(key: keys[3], valueHash: smtValue(1000))], to: tree, store)
        #expect(try tree.valueHash(for: keys[3]) == smtValue(1000))
        #expect(tree.root == SparseMerkleReference.root(smtModel(keys, except: [], overrides: [3: smtValue(1000)])))

        tree = try apply([SparseMerkleChange(key: keys[5], valueHash: nil)], to: tree, store)
        #expect(try tree.valueHash(for: keys[5]) == nil)
        #expect(try tree.valueHash(for: keys[3]) == smtValue(1000))
        #expect(tree.root == SparseMerkleReference.root(smtModel(keys, except: [5], overrides: [3: smtValue(1000)])))

        // Deleting an absent key, or setting a key to its current value, changes nothing.
        for change in [
            SparseMerkleChange(key: keys[5], valueHash: nil), SparseMerkleChange(key: smtKey(999), valueHash: nil),
            SparseMerkleChange(key: keys[3], valueHash: smtValue(1000)),
        ] {
            let update = try tree.updating([change])
            #expect(update.root == tree.root && update.nodes.isEmpty)
        }
        let mixed = try tree.updating([
            SparseMerkleChange(key: keys[5], valueHash: nil), SparseMerkleChange(key: keys[3], valueHash: smtValue(1000)),
        ])
        #expect(mixed.root == tree.root && mixed.nodes.isEmpty)

        // Re-inserting a deleted key restores the earlier root exactly.
        let restored = try tree.updating([
            SparseMerkleChange(key: keys[5], valueHash: smtValue(5)), SparseMerkleChange(key: keys[3], valueHash: smtValue(3)),
        ])
        #expect(restored.root == SparseMerkleReference.root(smtModel(keys, except: [], overrides: [:])))
    }

    @Test("two changes to one key in a batch are rejected")
    func duplicateKeys() throws {
        let tree = SparseMerkleTree(nodes: InMemorySparseMerkleNodes())
        let changes = [
            SparseMerkleChange(key: smtKey(1), valueHash: smtValue(1)),
            SparseMerkleChange(key: smtKey(2), valueHash: smtValue(2)),
            SparseMerkleChange(key: smtKey(1), valueHash: nil),
        ]
        smtExpectStateError(.invalidArgument) { () throws(StateError) in _ = try tree.updating(changes) }
    }

    @Test("the result does not depend on the order of the changes")
    func orderIndependence() throws {
        let store = InMemorySparseMerkleNodes()
        let base = try apply(
            (0..<300).map { SparseMerkleChange(key: smtKey($0), valueHash: smtValue($0)) },
            to: SparseMerkleTree(nodes: store), store)
        // Updates, deletions (some of absent keys) and insertions, one change per key.
        var byKey: [Hash: Hash?] = [:]
        for index in 0..<150 { byKey[smtKey(index * 2)] = .some(smtValue(index + 5000)) }
        for index in 0..<60 { byKey[smtKey(index * 7 + 1)] = .some(nil) }
        for index in 0..<80 { byKey[smtKey(10_000 + index)] = .some(smtValue(index)) }
        let changes = byKey.map { SparseMerkleChange(key: $0.key, valueHash: $0.value) }.sorted { $0.key < $1.key }
        let expected = try base.updating(changes)
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<6 {
            let shuffled = changes.shuffled(using: &generator)
            #expect(try base.updating(shuffled) == expected)
        }
    }

    @Test("deleting every key returns the empty root")
    func deleteEverything() throws {
        let store = InMemorySparseMerkleNodes()
        let keys = (0..<500).map(smtKey)
        var tree = try apply(
            keys.map { SparseMerkleChange(key: $0, valueHash: smtValue(1)) },
            to: SparseMerkleTree(nodes: store), store)
        var generator = SeededGenerator(seed: 7)
        var remaining = keys.shuffled(using: &generator)
        while !remaining.isEmpty {
            let count = min(remaining.count, Int.random(in: 1...60, using: &generator))
            tree = try apply(remaining.prefix(count).map { SparseMerkleChange(key: $0, valueHash: nil) }, to: tree, store)
            remaining.removeFirst(count)
            #expect(
                tree.root == SparseMerkleReference.root(Dictionary(uniqueKeysWithValues: remaining.map { ($0, smtValue(1)) })))
        }
        #expect(tree.root == .zero)
        // Deleting all at once from the full tree does the same.
        let full = try apply(keys.map { SparseMerkleChange(key: $0, valueHash: smtValue(1)) }, to: tree, store)
        #expect(full.root == SparseMerkleReference.root(Dictionary(uniqueKeysWithValues: keys.map { ($0, smtValue(1)) })))
        #expect(try full.updating(keys.map { SparseMerkleChange(key: $0, valueHash: nil) }).root == .zero)
    }

    @Test("random operation sequences agree with the naive reference, and old roots stay readable")
    func referenceModel() throws {
        var generator = SeededGenerator(seed: 2024)
        let store = InMemorySparseMerkleNodes()
        var tree = SparseMerkleTree(nodes: store)
        var model: [Hash: Hash] = [:]
        // Random keys, plus clusters sharing long prefixes so deep chains, lifts and
        // depth-256 leaves (keys differing only in the last bit) all occur.
        var pool = (0..<300).map(smtKey)
        for cluster in 0..<4 {
            let base = smtKey(50_000 + cluster)
            for _ in 0..<25 {
                let bit = [255, 254, 200, 129, 128, 64, 9].randomElement(using: &generator)!
                pool.append(SparseMerklePath.settingBit(base, bit, to: 1 - SparseMerklePath.bit(base, bit)))
                pool.append(SparseMerklePath.settingBit(base, Int.random(in: 150..<256, using: &generator), to: 1))
            }
        }
        pool = Array(Set(pool))
        var history: [(root: SparseMerkleNodeReference, model: [Hash: Hash])] = []
        var operations = 0
        var batches = 0
        while operations < 4000 {
            var batch: [Hash: Hash?] = [:]
            for _ in 0..<Int.random(in: 1...60, using: &generator) {
                let key = pool.randomElement(using: &generator)!
                // About a third of the changes delete (some of them absent keys).
                let valueHash: Hash? =
                    Int.random(in: 0..<3, using: &generator) == 0 ? nil : smtValue(Int(generator.next() % 1000))
                batch[key] = .some(valueHash)
            }
            operations += batch.count
            let changes = batch.map { SparseMerkleChange(key: $0.key, valueHash: $0.value) }
            let oldRoot = tree.rootReference
            let update = try tree.updating(changes)
            for change in changes { model[change.key] = change.valueHash }
            #expect(update.root == SparseMerkleReference.root(model), "batch \(batches)")

            // The new nodes are exactly the nodes of the new tree the old tree lacks, each
            // once, at the update's locations; the walk follows the children's stored
            // locations, so a wrong one would show as a missing node.
            let before = try smtReachable(oldRoot, store)
            store.insert(update)
            let after = try smtReachable(update.rootReference, store)
            let created = update.createdNodes.map { SparseMerkleNodeReference(hash: $0.hash, location: $0.location) }
            #expect(created.count == Set(created).count, "batch \(batches)")
            // Numbered 0, 1, 2, … at this update's version with no gap (a store packs them
            // into consecutive rows), each above its children.
            #expect(
                created.enumerated().allSatisfy {
                    $0.element.location == SparseMerkleNodeLocation.location(version: update.version, ordinal: UInt64($0.offset))
                }, "batch \(batches)")
            // And each location reads back as that version and ordinal.
            #expect(
                created.enumerated().allSatisfy {
                    SparseMerkleNodeLocation.version(of: $0.element.location) == update.version
                        && SparseMerkleNodeLocation.ordinal(of: $0.element.location) == UInt64($0.offset)
                }, "batch \(batches)")
            #expect(
                update.createdNodes.allSatisfy {
                    ($0.leftLocation < $0.location || $0.leftLocation == 0)
                        && ($0.rightLocation < $0.location || $0.rightLocation == 0)
                }, "batch \(batches)")
            #expect(Set(created) == after.subtracting(before), "batch \(batches)")
            // The stale nodes are exactly the nodes of the old tree the new tree lacks.
            #expect(update.staleNodes.count == Set(update.staleNodes).count, "batch \(batches)")
            #expect(Set(update.staleNodes) == before.subtracting(after), "batch \(batches)")
            tree = SparseMerkleTree(after: update, nodes: store)
            if batches % 10 == 0 { history.append((tree.rootReference, model)) }
            batches += 1
        }
        for key in pool { #expect(try tree.valueHash(for: key) == model[key]) }
        for index in 1_000_000..<1_000_050 { #expect(try tree.valueHash(for: smtKey(index)) == nil) }

        // Every old root still answers as it did, with proofs that verify against it.
        for (root, snapshot) in history {
            let old = SparseMerkleTree(root: root, nodes: store)
            for key in pool.prefix(80) {
                #expect(try old.valueHash(for: key) == snapshot[key])
                #expect(try old.proof(for: key).verify(root: root.hash, key: key, valueHash: snapshot[key]))
            }
        }
    }

    @Test("an update reads only along the changed paths")
    func readsAreLogarithmic() throws {
        let store = InMemorySparseMerkleNodes()
        let tree = try apply(
            (0..<4000).map { SparseMerkleChange(key: smtKey($0), valueHash: smtValue($0)) },
            to: SparseMerkleTree(nodes: store), store)
        let counting = SparseMerkleCountingSource(store)
        let counted = SparseMerkleTree(root: tree.rootReference, nodes: counting)
        for index in [0, 17, 3999, 123_456] {
            let key = smtKey(index)
            let depth = try tree.proof(for: key).siblings.count
            for valueHash in [smtValue(-1), nil] {
                counting.reads = 0
                _ = try counted.updating([SparseMerkleChange(key: key, valueHash: valueHash)])
                // The path down (depth + 1 nodes) plus at most one sibling read for a lift.
                #expect(counting.reads <= depth + 2, "key \(index): \(counting.reads) reads at depth \(depth)")
            }
            counting.reads = 0
            _ = try counted.valueHash(for: key)
            #expect(counting.reads == depth + (try tree.proof(for: key).terminal == .empty ? 0 : 1))
        }
        counting.reads = 0
        _ = try counted.updating((0..<100).map { SparseMerkleChange(key: smtKey($0 * 40), valueHash: smtValue(-$0)) })
        #expect(counting.reads < 100 * 16)
    }

    @Test("keys that differ only in their last bit sit at depth 256")
    func deepestLeaves() throws {
        let store = InMemorySparseMerkleNodes()
        let first = SparseMerklePath.settingBit(smtKey(1), 255, to: 0)
        let second = SparseMerklePath.settingBit(first, 255, to: 1)
        let tree = try apply(
            [SparseMerkleChange(key: first, valueHash: smtValue(1)), SparseMerkleChange(key: second, valueHash: smtValue(2))],
            to: SparseMerkleTree(nodes: store), store)
        #expect(tree.root == SparseMerkleReference.root([first: smtValue(1), second: smtValue(2)]))
        let proof = try tree.proof(for: second)
        #expect(proof.siblings.count == 256)
        #expect(proof.siblings.last == SparseMerkleNode.leafHash(key: first, valueHash: smtValue(1)))
        #expect(proof.siblings.dropLast().allSatisfy { $0 == .zero })
        #expect(proof.verify(root: tree.root, key: second, valueHash: smtValue(2)))
        #expect(try SparseMerkleProof(canonicalBytes: proof.canonicalBytes) == proof)
        #expect(proof.canonicalBytes.count == 3 + 256 * 32 + 65)
        let deleted = try tree.updating([SparseMerkleChange(key: first, valueHash: nil)])
        #expect(deleted.root == SparseMerkleNode.leafHash(key: second, valueHash: smtValue(2)))
        #expect(deleted.nodes.isEmpty)  // the surviving leaf moves to the root; no node is new
    }

    // MARK: Proofs

    @Test("membership and non-membership proofs verify, and every kind of tampering fails")
    func proofs() throws {
        let store = InMemorySparseMerkleNodes()
        let keys = (0..<300).map(smtKey)
        let tree = try apply(
            keys.enumerated().map { SparseMerkleChange(key: $1, valueHash: smtValue($0)) },
            to: SparseMerkleTree(nodes: store), store)
        let root = tree.root
        let wrongRoot = SparseMerkleReference.root([keys[0]: smtValue(0)])

        for (index, key) in keys.enumerated().prefix(60) {
            let proof = try tree.proof(for: key)
            #expect(proof.terminal == .leaf(key: key, valueHash: smtValue(index)))
            #expect(proof.verify(root: root, key: key, valueHash: smtValue(index)))
            #expect(!proof.verify(root: root, key: key, valueHash: smtValue(index + 1)), "tampered value")
            #expect(!proof.verify(root: wrongRoot, key: key, valueHash: smtValue(index)), "wrong root")
            #expect(!proof.verify(root: root, key: keys[index + 1], valueHash: smtValue(index)), "different key")
            #expect(!proof.verify(root: root, key: key, valueHash: nil), "membership presented as absence")
            expectSiblingTamperingFails(proof, root: root, key: key, valueHash: smtValue(index))
        }

        var terminals: Set<String> = []
        for index in 1_000..<1_200 {
            let key = smtKey(index)
            let proof = try tree.proof(for: key)
            terminals.insert(proof.terminal == .empty ? "empty" : "leaf")
            #expect(proof.verify(root: root, key: key, valueHash: nil))
            #expect(!proof.verify(root: wrongRoot, key: key, valueHash: nil), "wrong root")
            #expect(!proof.verify(root: root, key: key, valueHash: smtValue(0)), "absence presented as membership")
            if case .leaf(let leafKey, let leafValue) = proof.terminal {
                // The found leaf is itself a member: the same bytes prove that, and not absence.
                #expect(proof.verify(root: root, key: leafKey, valueHash: leafValue))
                #expect(!proof.verify(root: root, key: leafKey, valueHash: nil))
            }
            expectSiblingTamperingFails(proof, root: root, key: key, valueHash: nil)
        }
        #expect(terminals == ["empty", "leaf"], "both kinds of non-membership proof occur")
    }

    @Test("a non-membership proof whose leaf is off the asked key's path is rejected")
    func offPathLeaf() throws {
        // A dishonest root whose left child is a leaf of a key that starts with bit 1:
        // hashing up along any key starting with bit 0 reaches the root, but the leaf is
        // not where that key would be, so it proves nothing about it.
        let offPath = smtKey(where: { SparseMerklePath.bit($0, 0) == 1 })
        let other = smtKey(where: { SparseMerklePath.bit($0, 0) == 1 && $0 != offPath })
        let asked = smtKey(where: { SparseMerklePath.bit($0, 0) == 0 })
        let leaf = SparseMerkleNode.leafHash(key: offPath, valueHash: smtValue(1))
        let sibling = SparseMerkleNode.leafHash(key: other, valueHash: smtValue(2))
        let root = SparseMerkleNode.internalHash(left: leaf, right: sibling)
        let proof = SparseMerkleProof(siblings: [sibling], terminal: .leaf(key: offPath, valueHash: smtValue(1)))
        #expect(!proof.verify(root: root, key: asked, valueHash: nil))
        // The check, not the hashing, rejects it: the same path with an on-path leaf passes.
        let onPath = smtKey(where: { SparseMerklePath.bit($0, 0) == 0 && $0 != asked })
        let honestRoot = SparseMerkleNode.internalHash(
            left: SparseMerkleNode.leafHash(key: onPath, valueHash: smtValue(1)), right: sibling)
        let honest = SparseMerkleProof(siblings: [sibling], terminal: .leaf(key: onPath, valueHash: smtValue(1)))
        #expect(honest.verify(root: honestRoot, key: asked, valueHash: nil))
    }

    @Test("proofs round-trip through their encoding")
    func proofEncodingRoundTrip() throws {
        let store = InMemorySparseMerkleNodes()
        let tree = try apply(
            (0..<100).map { SparseMerkleChange(key: smtKey($0), valueHash: smtValue($0)) },
            to: SparseMerkleTree(nodes: store), store)
        for index in [0, 1, 50, 99, 500, 501, 502, 503] {
            let proof = try tree.proof(for: smtKey(index))
            let bytes = proof.canonicalBytes
            let expectedCount = 3 + 32 * proof.siblings.count + (proof.terminal == .empty ? 1 : 65)
            #expect(bytes.count == expectedCount)
            #expect(bytes[0] == 1)
            #expect(Int(bytes[1]) << 8 | Int(bytes[2]) == proof.siblings.count)
            let decoded = try SparseMerkleProof(canonicalBytes: bytes)
            #expect(decoded == proof)
            #expect(decoded.canonicalBytes == bytes)
        }
        let full = SparseMerkleProof(siblings: Array(repeating: smtKey(3), count: 256), terminal: .empty)
        #expect(try SparseMerkleProof(canonicalBytes: full.canonicalBytes) == full)
    }

    @Test("the proof decoder rejects every non-canonical byte string")
    func proofDecoderRejections() throws {
        let leafProof = SparseMerkleProof(siblings: [smtKey(1), .zero], terminal: .leaf(key: smtKey(2), valueHash: smtValue(2)))
        let emptyProof = SparseMerkleProof(siblings: [smtKey(1)], terminal: .empty)
        let leafBytes = leafProof.canonicalBytes
        let emptyBytes = emptyProof.canonicalBytes

        smtExpectRejection([], .truncated, "no bytes")
        smtExpectRejection([1, 0], .truncated, "count cut short")
        smtExpectRejection(Array(leafBytes.dropLast()), .truncated, "leaf value cut short")
        smtExpectRejection(Array(leafBytes.prefix(3 + 32)), .truncated, "second sibling missing")
        smtExpectRejection(Array(emptyBytes.dropLast()), .truncated, "terminal kind missing")
        smtExpectRejection(leafBytes + [0], .trailingBytes, "byte after a leaf terminal")
        smtExpectRejection(emptyBytes + [0], .trailingBytes, "byte after an empty terminal")
        for version: UInt8 in [0, 2, 255] {
            smtExpectRejection([version] + emptyBytes.dropFirst(), .unknownVersion, "version \(version)")
        }
        // Counts over 256 are rejected before the siblings are read.
        smtExpectRejection([1, 0x01, 0x01], .overLimit, "257 siblings")
        smtExpectRejection([1, 0xFF, 0xFF], .overLimit, "65535 siblings")
        let over = [1, 0x01, 0x01] + [UInt8](repeating: 0, count: 257 * 32) + [0]
        smtExpectRejection(over, .overLimit, "257 siblings present")
        for kind: UInt8 in [2, 3, 0xFF] {
            var bad = emptyBytes
            bad[bad.count - 1] = kind
            smtExpectRejection(bad, .invalidValue, "terminal kind \(kind)")
        }
        #expect(try SparseMerkleProof(canonicalBytes: leafBytes) == leafProof)
        #expect(try SparseMerkleProof(canonicalBytes: emptyBytes) == emptyProof)
    }

    // MARK: Corrupt storage

    @Test("a node whose bytes do not hash to the hash asked for is corrupt")
    func corruptNodes() throws {
        let store = InMemorySparseMerkleNodes()
        let tree = try apply(
            (0..<50).map { SparseMerkleChange(key: smtKey($0), valueHash: smtValue($0)) },
            to: SparseMerkleTree(nodes: store), store)
        let root = tree.rootReference
        let rootStored = try #require(store.node(root))

        // The root's bytes with one bit flipped, stored under the root's hash.
        var tampered = store.nodes
        tampered[root] = SparseMerkleStoredBytes(
            rootStored.bytes.smtFlippingBit(300), leftLocation: rootStored.leftLocation, rightLocation: rootStored.rightLocation)
        expectCorrupt(root: root, placed: tampered, "tampered root")

        // A leaf deeper down replaced by another valid leaf.
        let leafHash = SparseMerkleNode.leafHash(key: smtKey(3), valueHash: smtValue(3))
        let leaf = try #require(store.nodes.keys.first { $0.hash == leafHash })
        tampered = store.nodes
        tampered[leaf] = SparseMerkleStoredBytes(SparseMerkleNode.leaf(key: smtKey(3), valueHash: smtValue(4)).canonicalBytes)
        expectCorrupt(root: root, placed: tampered, "swapped leaf", key: smtKey(3))

        // A missing node.
        tampered = store.nodes
        tampered[leaf] = nil
        expectCorrupt(root: root, placed: tampered, "missing leaf", key: smtKey(3))

        // The leaf moved, its parent still naming the old location.
        tampered = store.nodes
        tampered[leaf] = nil
        tampered[SparseMerkleNodeReference(hash: leafHash, location: leaf.location + 1)] = store.nodes[leaf]
        expectCorrupt(root: root, placed: tampered, "leaf at another location", key: smtKey(3))

        // A leaf stored with child locations.
        tampered = store.nodes
        tampered[leaf] = SparseMerkleStoredBytes(store.nodes[leaf]!.bytes, leftLocation: 1)
        expectCorrupt(root: root, placed: tampered, "leaf with child locations", key: smtKey(3))
    }

    @Test("bytes that hash correctly but are not a well-placed node are corrupt")
    func malformedNodes() throws {
        let key = smtKey(1)
        func stored(_ bytes: [UInt8]) -> (Hash, [Hash: [UInt8]]) { (Hash.sha256(bytes), [Hash.sha256(bytes): bytes]) }

        for (name, bytes) in [
            ("64 bytes", [UInt8](repeating: 1, count: 64)),
            ("66 bytes", [1] + [UInt8](repeating: 1, count: 65)),
            ("kind 2", [2] + [UInt8](repeating: 1, count: 64)),
            ("internal node with two empty children", [1] + [UInt8](repeating: 0, count: 64)),
        ] {
            let (root, nodes) = stored(bytes)
            expectCorrupt(root: root, nodes: nodes, name, key: key)
        }

        // A leaf alone under an internal node (a canonical tree lifts it).
        let leafBytes = SparseMerkleNode.leaf(key: key, valueHash: smtValue(1)).canonicalBytes
        let leafHash = Hash.sha256(leafBytes)
        let side = SparseMerklePath.bit(key, 0)
        let lone = SparseMerkleNode.internal(left: side == 0 ? leafHash : .zero, right: side == 0 ? .zero : leafHash)
        var nodes = [leafHash: leafBytes]
        nodes[lone.hash] = lone.canonicalBytes
        expectCorrupt(root: lone.hash, nodes: nodes, "lone leaf", key: key)

        // A leaf on the wrong side of the root.
        let otherSide = SparseMerkleNode.leaf(
            key: smtKey(where: { SparseMerklePath.bit($0, 0) != side }), valueHash: smtValue(2))
        let misplaced = SparseMerkleNode.internal(
            left: side == 0 ? otherSide.hash : leafHash, right: side == 0 ? leafHash : otherSide.hash)
        nodes = [leafHash: leafBytes, otherSide.hash: otherSide.canonicalBytes]
        nodes[misplaced.hash] = misplaced.canonicalBytes
        expectCorrupt(root: misplaced.hash, nodes: nodes, "leaf off its path", key: key)
    }

    @Test("an internal node at depth 256 is corrupt")
    func tooDeep() throws {
        // A chain of 256 internal nodes along the key's path ending in another internal node.
        let key = smtKey(5)
        var nodes: [Hash: [UInt8]] = [:]
        var hash = SparseMerkleNode.internal(left: smtValue(1), right: smtValue(2)).hash
        nodes[hash] = SparseMerkleNode.internal(left: smtValue(1), right: smtValue(2)).canonicalBytes
        for depth in stride(from: 255, through: 0, by: -1) {
            let node: SparseMerkleNode =
                SparseMerklePath.bit(key, depth) == 0 ? .internal(left: hash, right: .zero) : .internal(left: .zero, right: hash)
            hash = node.hash
            nodes[hash] = node.canonicalBytes
        }
        expectCorrupt(root: hash, nodes: nodes, "internal node at depth 256", key: key)
    }

    @Test("a storage error from the source reaches the caller unchanged")
    func storageErrors() throws {
        let tree = SparseMerkleTree(
            root: SparseMerkleNodeReference(hash: smtKey(1), location: 0), nodes: SparseMerkleFailingSource())
        smtExpectStateError(.storage) { () throws(StateError) in _ = try tree.valueHash(for: smtKey(2)) }
        smtExpectStateError(.storage) { () throws(StateError) in _ = try tree.proof(for: smtKey(2)) }
        smtExpectStateError(.storage) { () throws(StateError) in
            _ = try tree.updating([SparseMerkleChange(key: smtKey(2), valueHash: nil)])
        }
    }

    // MARK: Helpers

    /// Applies `changes`, persists the new nodes and returns the new tree.
    @Test("leaves are found with their locations, and walked in pages in key order without a gap")
    func leavesAndTheirLocations() throws {
        let store = InMemorySparseMerkleNodes()
        var tree = SparseMerkleTree(nodes: store)
        #expect(try tree.leaves(after: nil, limit: 5).isEmpty)
        let keys = (0..<150).map(smtKey)
        // Three versions: inserts, then updates and deletions, so leaves of several versions stand.
        tree = try apply(keys.enumerated().map { SparseMerkleChange(key: $1, valueHash: smtValue($0)) }, to: tree, store)
        let deleted = Set(stride(from: 0, to: 150, by: 7))
        tree = try apply(deleted.map { SparseMerkleChange(key: keys[$0], valueHash: nil) }, to: tree, store)
        tree = try apply(
            stride(from: 1, to: 150, by: 5).filter { !deleted.contains($0) }.map {
                SparseMerkleChange(key: keys[$0], valueHash: smtValue(1_000 + $0))
            }, to: tree, store)
        var expected: [Hash: Hash] = [:]
        for (index, key) in keys.enumerated() where !deleted.contains(index) {
            expected[key] = try #require(try tree.valueHash(for: key))
        }
        for (index, key) in keys.enumerated() {
            let leaf = try tree.leaf(for: key)
            #expect(leaf?.valueHash == expected[key])
            guard let leaf else {
                #expect(deleted.contains(index))
                continue
            }
            // The location holds that very leaf (the store finds a node by hash and location).
            let reference = SparseMerkleNodeReference(
                hash: SparseMerkleNode.leafHash(key: key, valueHash: leaf.valueHash), location: leaf.location)
            #expect(store.node(reference) != nil)
        }
        let ascending = expected.keys.sorted()
        for pageSize in [1, 2, 16, 149, 150] {
            var walked: [Hash] = []
            var after: Hash?
            while true {
                let page = try tree.leaves(after: after, limit: pageSize)
                #expect(page.count <= pageSize)
                for leaf in page { #expect(expected[leaf.key] == leaf.valueHash) }
                walked += page.map(\.key)
                guard page.count == pageSize, let last = page.last else { break }
                after = last.key
            }
            #expect(walked == ascending)
        }
        // A cursor between keys, or past the last, starts at the next key.
        let middle = ascending[40]
        #expect(try tree.leaves(after: middle, limit: 3).map(\.key) == Array(ascending[41..<44]))
        #expect(try tree.leaves(after: ascending.last, limit: 3).isEmpty)
    }

    private func apply(_ changes: [SparseMerkleChange], to tree: SparseMerkleTree, _ store: InMemorySparseMerkleNodes)
        throws -> SparseMerkleTree
    {
        let update = try tree.updating(changes)
        store.insert(update)
        return SparseMerkleTree(after: update, nodes: store)
    }

    /// Asserts that reading `key` (or updating, or proving it) in the tree at `root` over
    /// `nodes` fails as corrupt.
    private func expectCorrupt(
        root: Hash, nodes: [Hash: [UInt8]], _ comment: String, key: Hash = smtKey(0),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectCorrupt(
            root: SparseMerkleNodeReference(hash: root, location: 0), placed: InMemorySparseMerkleNodes(nodes).nodes, comment,
            key: key, sourceLocation: sourceLocation)
    }

    /// Asserts that reading `key` (or updating, or proving it) in the tree at `root` over
    /// `placed` fails as corrupt.
    private func expectCorrupt(
        root: SparseMerkleNodeReference, placed: [SparseMerkleNodeReference: SparseMerkleStoredBytes], _ comment: String,
        key: Hash = smtKey(0), sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let tree = SparseMerkleTree(root: root, nodes: InMemorySparseMerkleNodes(placed: placed))
        smtExpectStateError(.corrupt, comment, sourceLocation: sourceLocation) { () throws(StateError) in
            _ = try tree.valueHash(for: key)
        }
        smtExpectStateError(.corrupt, comment, sourceLocation: sourceLocation) { () throws(StateError) in
            _ = try tree.proof(for: key)
        }
        smtExpectStateError(.corrupt, comment, sourceLocation: sourceLocation) { () throws(StateError) in
            _ = try tree.updating([SparseMerkleChange(key: key, valueHash: smtValue(77))])
        }
    }

    /// Asserts that flipping any one bit of any sibling makes `proof` fail.
    private func expectSiblingTamperingFails(
        _ proof: SparseMerkleProof, root: Hash, key: Hash, valueHash: Hash?, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for index in proof.siblings.indices {
            var siblings = proof.siblings
            siblings[index] = try! Hash(siblings[index].bytes.smtFlippingBit(index * 7 % 256))
            let tampered = SparseMerkleProof(siblings: siblings, terminal: proof.terminal)
            #expect(
                !tampered.verify(root: root, key: key, valueHash: valueHash), "sibling \(index)", sourceLocation: sourceLocation)
        }
        if !proof.siblings.isEmpty {
            // Dropping or adding a level breaks it too.
            let shorter = SparseMerkleProof(siblings: Array(proof.siblings.dropLast()), terminal: proof.terminal)
            #expect(!shorter.verify(root: root, key: key, valueHash: valueHash), sourceLocation: sourceLocation)
        }
        let longer = SparseMerkleProof(siblings: proof.siblings + [.zero], terminal: proof.terminal)
        #expect(!longer.verify(root: root, key: key, valueHash: valueHash), sourceLocation: sourceLocation)
    }

    /// The model of `keys[i] = smtValue(i)`, minus the indices in `except`, with `overrides`.
    private func smtModel(_ keys: [Hash], except: Set<Int>, overrides: [Int: Hash]) -> [Hash: Hash] {
        var model: [Hash: Hash] = [:]
        for (index, key) in keys.enumerated() where !except.contains(index) { model[key] = overrides[index] ?? smtValue(index) }
        return model
    }
}

/// The state tree computed from scratch by the definition in docs/FORMAT.md: the root of a
/// set is zero when empty, the leaf hash when it has one member, and otherwise the
/// internal-node hash of the roots of the halves split on the next key bit. It shares no
/// code with the implementation beyond SHA-256.
private enum SparseMerkleReference {
    static func root(_ entries: [Hash: Hash]) -> Hash { root(Array(entries), depth: 0) }

    private static func root(_ entries: [(key: Hash, value: Hash)], depth: Int) -> Hash {
        if entries.isEmpty { return .zero }
        if entries.count == 1 { return Hash.sha256([0x00] + entries[0].key.bytes + entries[0].value.bytes) }
        precondition(depth < 256)
        let left = entries.filter { ($0.key.bytes[depth / 8] >> (7 - depth % 8)) & 1 == 0 }
        let right = entries.filter { ($0.key.bytes[depth / 8] >> (7 - depth % 8)) & 1 == 1 }
        return Hash.sha256([0x01] + root(left, depth: depth + 1).bytes + root(right, depth: depth + 1).bytes)
    }
}

/// A node source that counts reads.
private final class SparseMerkleCountingSource: SparseMerkleNodeSource {
    let inner: InMemorySparseMerkleNodes
    var reads = 0

    init(_ inner: InMemorySparseMerkleNodes) { self.inner = inner }

    func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes? {
        reads += 1
        return inner.node(reference)
    }
}

/// A node source whose storage always fails.
private struct SparseMerkleFailingSource: SparseMerkleNodeSource {
    func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes? {
        throw StateError(.storage, "disk on fire")
    }
}

/// Key `index`: SHA-256 of the index's 8 big-endian bytes.
private func smtKey(_ index: Int) -> Hash { Hash.sha256(withUnsafeBytes(of: Int64(index).bigEndian) { Array($0) }) }

/// Value hash `index`: SHA-256 of "value" and the index.
private func smtValue(_ index: Int) -> Hash { Hash.sha256(Array("value \(index)".utf8)) }

/// The first `smtKey(i)` that satisfies `condition`.
private func smtKey(where condition: (Hash) -> Bool) -> Hash {
    var index = 0
    while !condition(smtKey(index)) { index += 1 }
    return smtKey(index)
}

/// Every node reachable from `root` in `store`, following each internal node's stored child
/// locations (reads the bytes directly). A child missing where its parent places it fails.
private func smtReachable(_ root: SparseMerkleNodeReference, _ store: InMemorySparseMerkleNodes) throws
    -> Set<SparseMerkleNodeReference>
{
    var seen: Set<SparseMerkleNodeReference> = []
    var pending = root.hash == .zero ? [] : [root]
    while let reference = pending.popLast() {
        seen.insert(reference)
        let stored = try #require(store.node(reference), "node \(reference.hash) missing at location \(reference.location)")
        guard stored.bytes[0] == 1 else { continue }
        let left = SparseMerkleNodeReference(hash: try Hash(Array(stored.bytes[1..<33])), location: stored.leftLocation)
        let right = SparseMerkleNodeReference(hash: try Hash(Array(stored.bytes[33..<65])), location: stored.rightLocation)
        for child in [left, right] where child.hash != .zero { pending.append(child) }
    }
    return seen
}

extension SparseMerkleTree {
    /// The update at the next version the tree's in-memory store has room for (or the one
    /// after the root's, over another source): what a store writing one version per batch does.
    fileprivate func updating(_ changes: [SparseMerkleChange]) throws(StateError) -> SparseMerkleUpdate {
        try updating(changes, version: (nodes as? InMemorySparseMerkleNodes)?.nextVersion ?? rootLocation + 1)
    }
}

/// Asserts that `body` throws a StateError with `code`.
private func smtExpectStateError(
    _ code: StateError.Code, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(StateError) -> Void
) {
    do throws(StateError) {
        try body()
        Issue.record("no error, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

/// Asserts that decoding `bytes` as a proof fails with `code`.
private func smtExpectRejection(
    _ bytes: [UInt8], _ code: FormatError.Code, _ comment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(FormatError) {
        _ = try SparseMerkleProof(canonicalBytes: bytes)
        Issue.record("proof decoded, expected \(code) (\(comment))", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    }
}

extension Array where Element == UInt8 {
    /// A copy with one bit flipped.
    fileprivate func smtFlippingBit(_ bit: Int) -> [UInt8] {
        var copy = self
        copy[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
        return copy
    }
}
