import SocaiCore
import SocaiState
import Testing

@testable import SocaiAudit

/// The replay's state keeps each value's decoded record beside its bytes; what it returns must
/// always be what decoding the current bytes would give.
@Suite("Replay state backend")
struct ReplayStateBackendTests {
    /// Commits `values` (nil deletes) as one block would: the tree update, then the values.
    func commit(_ values: [(key: String, value: [UInt8]?)], to backend: ReplayStateBackend) throws {
        let entries = values.map { StateEntryChange(key: Array($0.key.utf8), value: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let changes = entries.map {
            SparseMerkleChange(key: StateKey.treeKey($0.key), valueHash: $0.value.map(StateKey.treeValue))
        }
        let update = try #require(try backend.updatedTree(changes, version: 1))
        backend.apply(StateChanges(values: entries, tree: update))
    }

    @Test("a record read again after its value changed is the new value, never the one decoded before")
    func decodedRecordFollowsItsBytes() throws {
        let backend = ReplayStateBackend()
        let key = Array("balance/a".utf8)
        try commit([("balance/a", AmountRecord(7).canonicalBytes)], to: backend)
        #expect(try backend.record(AmountRecord.self, forKey: key) == AmountRecord(7))
        // The second read is the kept record; it must still be the stored one.
        #expect(try backend.record(AmountRecord.self, forKey: key) == AmountRecord(7))
        try commit([("balance/a", AmountRecord(9).canonicalBytes)], to: backend)
        #expect(try backend.record(AmountRecord.self, forKey: key) == AmountRecord(9))
        try commit([("balance/a", nil)], to: backend)
        #expect(try backend.record(AmountRecord.self, forKey: key) == nil)
        #expect(try backend.value(forKey: key) == nil)
    }

    @Test("the same bytes read as another record type are decoded as that type")
    func anotherTypeDecodesAgain() throws {
        let backend = ReplayStateBackend()
        let key = Array("account/a".utf8)
        // An account and an amount are both one u64: the bytes decode as either.
        try commit([("account/a", AccountRecord(nonce: 5).canonicalBytes)], to: backend)
        #expect(try backend.record(AccountRecord.self, forKey: key) == AccountRecord(nonce: 5))
        #expect(try backend.record(AmountRecord.self, forKey: key) == AmountRecord(5))
        #expect(try backend.record(AccountRecord.self, forKey: key) == AccountRecord(nonce: 5))
    }

    @Test("a value that does not decode is reported as corrupt state on every read, naming its key")
    func corruptValueIsReportedEachTime() throws {
        let backend = ReplayStateBackend()
        let key = Array("balance/b".utf8)
        try commit([("balance/b", [1, 2, 3])], to: backend)
        for _ in 0..<2 {
            let error = #expect(throws: StateError.self) { try backend.record(AmountRecord.self, forKey: key) }
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("balance/b") == true)
            #expect(error?.message.contains("AmountRecord") == true)
        }
        #expect(try backend.value(forKey: key) == [1, 2, 3])
    }
}
