import SocaiCore
import Testing

@Suite("byte order of state keys")
struct ByteOrderTests {
    /// A small deterministic generator (SplitMix64), so a failure reproduces.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("agrees with lexicographicallyPrecedes on keys that share prefixes, differ late or are prefixes")
    func agreesWithGenericOrder() {
        var generator = Generator(state: 7)
        // A small alphabet and shared stems make equal prefixes, equal keys and ties in the
        // first eight-byte word common, which is where a word-wise comparison could go wrong.
        let stems: [[UInt8]] = [[], Array("did/".utf8), Array("did/did:socai:".utf8), [0xff, 0x00, 0x80]]
        var keys: [[UInt8]] = []
        for _ in 0..<400 {
            var key = stems[Int(generator.next() % UInt64(stems.count))]
            let alphabet: [UInt8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]
            for _ in 0..<Int(generator.next() % 20) { key.append(alphabet[Int(generator.next() % 6)]) }
            keys.append(key)
        }
        var compared = 0
        for left in keys {
            for right in keys.prefix(120) {
                #expect(
                    left.precedesInByteOrder(right) == left.lexicographicallyPrecedes(right),
                    "\(left) vs \(right)")
                compared += 1
            }
        }
        #expect(compared == 400 * 120)
        #expect(![UInt8]().precedesInByteOrder([]))
        #expect([UInt8]().precedesInByteOrder([0]))
        #expect(Array("did/abcdefgh".utf8).precedesInByteOrder(Array("did/abcdefgh\u{0}".utf8)))
        #expect(!Array("did/abcdefgi".utf8).precedesInByteOrder(Array("did/abcdefgh\u{ff}".utf8)))
    }
}
