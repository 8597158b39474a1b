import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import SocaiState
import Testing

/// Recomputes every `smt_` vector of docs/FORMAT.md with the state tree and compares it
/// byte for byte, so the "State tree (sparse Merkle tree)" section cannot drift from the code.
@Suite("docs/FORMAT.md state tree vectors")
struct SparseMerkleVectorTests {
    /// The prefix of every state tree vector name; FormatVectorTests leaves these to this suite.
    static let namePrefix = "smt_"

    /// Key of a letter: SHA-256 of its one ASCII byte.
    static func key(_ letter: String) -> Hash { Hash.sha256(Array(letter.utf8)) }
    /// Value hash of a digit: SHA-256 of its one ASCII byte.
    static func value(_ digit: Int) -> Hash { Hash.sha256(Array(String(digit).utf8)) }

    /// Letters "a", "b", ... mapped to the value hashes of "1", "2", ...
    static func changes(_ letters: String) -> [SparseMerkleChange] {
        letters.enumerated().map { SparseMerkleChange(key: key(String($1)), valueHash: value($0 + 1)) }
    }

    /// Every state tree vector the library computes, by name.
    static func computedVectors() throws -> [String: [UInt8]] {
        let store = InMemorySparseMerkleNodes()
        func tree(_ changes: [SparseMerkleChange], from root: SparseMerkleNodeReference = .empty) throws
            -> SparseMerkleTree
        {
            let update = try SparseMerkleTree(root: root, nodes: store).updating(changes, version: store.nextVersion)
            store.insert(update)
            return SparseMerkleTree(after: update, nodes: store)
        }
        var vectors: [String: [UInt8]] = [:]
        vectors["smt_empty_root"] = SparseMerkleTree.emptyRoot.bytes
        vectors["smt_leaf_node_a"] = SparseMerkleNode.leaf(key: key("a"), valueHash: value(1)).canonicalBytes
        vectors["smt_root_1"] = try tree(changes("a")).root.bytes
        let two = try tree(changes("ab"))
        vectors["smt_root_2"] = two.root.bytes
        let rootNode: [UInt8] = try #require(store.node(two.rootReference)).bytes
        vectors["smt_root_node_2"] = rootNode
        vectors["smt_root_3"] = try tree(changes("abc")).root.bytes
        let five = try tree(changes("abcde"))
        vectors["smt_root_5"] = five.root.bytes
        vectors["smt_root_5_c_set_9"] =
            try tree([SparseMerkleChange(key: key("c"), valueHash: value(9))], from: five.rootReference).root.bytes
        vectors["smt_root_5_without_b_d"] =
            try tree(["b", "d"].map { SparseMerkleChange(key: key($0), valueHash: nil) }, from: five.rootReference).root.bytes
        vectors["smt_proof_c_in_5"] = try five.proof(for: key("c")).canonicalBytes
        vectors["smt_proof_f_absent_from_5"] = try five.proof(for: key("f")).canonicalBytes
        vectors["smt_proof_m_absent_from_5"] = try five.proof(for: key("m")).canonicalBytes
        return vectors
    }

    @Test("FORMAT.md lists every state tree vector, and each equals the library's output")
    func everyVectorMatches() throws {
        let document = try formatVectors().filter { $0.key.hasPrefix(Self.namePrefix) }
        let computed = try Self.computedVectors()
        #expect(Set(document.keys) == Set(computed.keys), "smt_ vectors in FORMAT.md versus computed here")
        for (name, bytes) in computed.sorted(by: { $0.key < $1.key }) {
            #expect(document[name] == Hex.encode(bytes), "vector \(name)")
        }
    }

    @Test("the proofs in FORMAT.md decode, re-encode identically and verify against smt_root_5")
    func documentProofsVerify() throws {
        let document = try formatVectors()
        func bytes(_ name: String) throws -> [UInt8] { try Hex.decode(try #require(document[name], "missing \(name)")) }
        let root = try Hash(try bytes("smt_root_5"))

        let member = try SparseMerkleProof(canonicalBytes: try bytes("smt_proof_c_in_5"))
        #expect(member.canonicalBytes == (try bytes("smt_proof_c_in_5")))
        #expect(member.verify(root: root, key: Self.key("c"), valueHash: Self.value(3)))
        #expect(!member.verify(root: root, key: Self.key("c"), valueHash: nil))

        let leafAbsence = try SparseMerkleProof(canonicalBytes: try bytes("smt_proof_f_absent_from_5"))
        #expect(leafAbsence.terminal == .leaf(key: Self.key("c"), valueHash: Self.value(3)))
        #expect(leafAbsence.verify(root: root, key: Self.key("f"), valueHash: nil))

        let emptyAbsence = try SparseMerkleProof(canonicalBytes: try bytes("smt_proof_m_absent_from_5"))
        #expect(emptyAbsence.terminal == .empty)
        #expect(emptyAbsence.verify(root: root, key: Self.key("m"), valueHash: nil))
        #expect(!emptyAbsence.verify(root: root, key: Self.key("m"), valueHash: Self.value(1)))

        // Deleting b and d leaves the tree that inserting a, c and e builds from scratch.
        let store = InMemorySparseMerkleNodes()
        let direct = try SparseMerkleTree(nodes: store).updating(
            [
                SparseMerkleChange(key: Self.key("a"), valueHash: Self.value(1)),
                SparseMerkleChange(key: Self.key("c"), valueHash: Self.value(3)),
                SparseMerkleChange(key: Self.key("e"), valueHash: Self.value(5)),
            ], version: 1)
        #expect(direct.root.bytes == (try bytes("smt_root_5_without_b_d")))
        #expect(Hash.sha256(try bytes("smt_root_node_2")).bytes == (try bytes("smt_root_2")))
        #expect(Hash.sha256(try bytes("smt_leaf_node_a")).bytes == (try bytes("smt_root_1")))
    }
}

/// Every vector of docs/FORMAT.md by name; records an issue for every malformed or repeated line.
func formatVectors() throws -> [String: String] {
    let parsed = FormatDocument.vectors(try FormatDocument.text())
    for problem in parsed.problems { Issue.record(Comment(rawValue: problem)) }
    return parsed.values
}
