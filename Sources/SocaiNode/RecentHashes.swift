import SocaiCore

/// A value recorded for each of the most recent hashes, at most `capacity`: once full, each
/// new hash replaces the oldest. What a node remembers about recent transactions (their
/// signature verdicts, whether they were committed) is bounded this way.
struct RecentHashes<Value> {
    /// Most hashes held.
    let capacity: Int
    /// Hashes in the order recorded; a ring whose next slot to overwrite is `next`.
    private var order: [Hash] = []
    private var next = 0
    private var values: [Hash: Value] = [:]

    /// An empty record of at most `capacity` hashes.
    init(capacity: Int) {
        precondition(capacity >= 1, "a record of recent hashes holds at least one")
        self.capacity = capacity
    }

    /// The value recorded for `hash`, if it is still held.
    subscript(hash: Hash) -> Value? { values[hash] }

    /// Number of hashes held.
    var count: Int { values.count }

    /// Records `value` for `hash` unless a value is already held for it (the first one
    /// stands), forgetting the oldest hash when full; returns whether it recorded.
    @discardableResult
    mutating func record(_ hash: Hash, _ value: Value) -> Bool {
        guard values[hash] == nil else { return false }
        if order.count < capacity {
            order.append(hash)
        } else {
            values[order[next]] = nil
            order[next] = hash
            next = (next + 1) % capacity
        }
        values[hash] = value
        precondition(values.count == order.count && values.count <= capacity, "recent hashes out of their bound")
        return true
    }
}

extension RecentHashes: Sendable where Value: Sendable {}
