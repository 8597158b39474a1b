import SocaiCore
import Testing

@Suite("byte order of state keys")
struct ByteOrderTests {
    /// Every key of up to five bytes from a small alphabet after each of a few stems: equal
    /// keys, keys that are prefixes of others, and keys that differ only past the first
    /// eight-byte word (where a word-wise comparison could go wrong) all occur.
    static func keys() -> [[UInt8]] {
        let stems: [[UInt8]] = [[], Array("did/".utf8), Array("did/did:socai:".utf8), [0xff, 0x00, 0x80]]
        let alphabet: [UInt8] = [0x00, 0x7f, 0xff]
        var suffixes: [[UInt8]] = [[]]
        var frontier: [[UInt8]] = [[]]
        for _ in 0..<5 {
            frontier = frontier.flatMap { suffix in alphabet.map { suffix + [$0] } }
            suffixes += frontier
        }
        return stems.flatMap { stem in suffixes.map { stem + $0 } }
    }

    @Test("agrees with lexicographicallyPrecedes on keys that share prefixes, differ late or are prefixes")
    func agreesWithGenericOrder() {
        let keys = Self.keys()
        #expect(keys.count == 4 * 364)
        var compared = 0
        for left in keys {
            for right in stride(from: 0, to: keys.count, by: 5).map({ keys[$0] }) {
                #expect(left.precedesInByteOrder(right) == left.lexicographicallyPrecedes(right), "\(left) vs \(right)")
                compared += 1
            }
        }
        #expect(compared == keys.count * ((keys.count + 4) / 5))
        #expect(![UInt8]().precedesInByteOrder([]))
        #expect([UInt8]().precedesInByteOrder([0]))
        #expect(Array("did/abcdefgh".utf8).precedesInByteOrder(Array("did/abcdefgh\u{0}".utf8)))
        #expect(!Array("did/abcdefgi".utf8).precedesInByteOrder(Array("did/abcdefgh\u{ff}".utf8)))
    }
}
