import SocaiState
import Testing

@Suite("state keys as dictionary keys")
struct StateKeyBytesTests {
    /// Keys of 0 to 40 bytes, and each of them again with one byte changed at every position
    /// in turn: pairs that differ only in the first word, only in a later word, only in the
    /// bytes after the last whole word, or only in length.
    static func keys() -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for length in 0...40 {
            let key = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            keys.append(key)
            for position in 0..<length {
                var changed = key
                changed[position] ^= 0x80
                keys.append(changed)
            }
        }
        return keys
    }

    @Test("equal exactly when the bytes are equal, and equal keys hash alike")
    func equalityMatchesBytes() {
        let keys = Self.keys()
        #expect(keys.count == 41 + 820)
        var equalPairs = 0
        var disagreements: [([UInt8], [UInt8])] = []
        for left in keys {
            for right in keys {
                let equal = StateKeyBytes(left) == StateKeyBytes(right)
                if equal != (left == right) { disagreements.append((left, right)) }
                if equal {
                    equalPairs += 1
                    #expect(StateKeyBytes(left).hashValue == StateKeyBytes(right).hashValue)
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        // Every key is distinct from every other, so only a key and itself compare equal.
        #expect(equalPairs == keys.count)
        // A dictionary finds each key by an equal copy and holds no key twice.
        var positions: [StateKeyBytes: Int] = [:]
        for (index, key) in keys.enumerated() { positions[StateKeyBytes(key)] = index }
        #expect(positions.count == keys.count)
        for (index, key) in keys.enumerated() { #expect(positions[StateKeyBytes(Array(key))] == index) }
    }
}
