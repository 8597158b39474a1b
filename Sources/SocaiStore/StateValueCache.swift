import SocaiState

/// Committed state values recently read, each with the record it last decoded as, so that a
/// validator reads a key from SQLite once rather than at every turn.
///
/// Why: a transaction's keys are read when a mempool admits it (its nonce, its signer's DID,
/// whether it is already committed) and read again when its block executes, and an active
/// signer's keys block after block. Each read from SQLite is a statement step and a read
/// transaction of its own; on a saturated four-validator network those reads were about 6%
/// of a validator's processor time, and decoding the same DID documents again more.
///
/// Coherence: only committed values enter, and only `committed(_:)` changes an entry. The
/// state database calls it after the SQLite transaction that wrote a block has committed,
/// with exactly the block's changes, so an entry never holds a value SQLite has not, nor
/// keeps one SQLite has replaced. An absent key is cached as absent (`bytes == nil`) only
/// when SQLite was asked: the state database answers the absent keys its key filter rules
/// out before it looks here, and does not cache those.
///
/// Bounded in two generations, like the checked-node cache: when the young one reaches
/// `generationEntriesMax` entries or `generationBytesMax` bytes of values, it becomes the old
/// one and the former old one is dropped; a hit in the old one moves the entry back. Values
/// over `valueBytesMax` are never held. So at most 2 × `generationBytesMax` bytes of values
/// (plus their decoded records and keys) are held.
struct StateValueCache {
    /// Entries per generation by default.
    static let generationEntriesMaxDefault = 1 << 15
    /// Bytes of values per generation by default.
    static let generationBytesMaxDefault = 8 << 20
    /// Largest value held; larger ones are read from SQLite each time.
    static let valueBytesMax = 4096

    /// A committed value (nil: the key is absent) and the record it decoded as.
    typealias Entry = DecodedStateValue

    let generationEntriesMax: Int
    let generationBytesMax: Int
    private var young: [StateKeyBytes: Entry] = [:]
    private var old: [StateKeyBytes: Entry] = [:]
    private var youngBytes = 0
    private var oldBytes = 0

    init(
        generationEntriesMax: Int = StateValueCache.generationEntriesMaxDefault,
        generationBytesMax: Int = StateValueCache.generationBytesMaxDefault
    ) {
        precondition(generationEntriesMax >= 1 && generationBytesMax >= Self.valueBytesMax + 64)
        self.generationEntriesMax = generationEntriesMax
        self.generationBytesMax = generationBytesMax
    }

    /// Entries held.
    var count: Int { young.count + old.count }
    /// Bytes held, as the bounds count them.
    var bytes: Int { youngBytes + oldBytes }

    /// The cached entry of `key`, if any.
    mutating func entry(_ key: [UInt8]) -> Entry? {
        let wrapped = StateKeyBytes(key)
        if let entry = young[wrapped] { return entry }
        guard let entry = old.removeValue(forKey: wrapped) else { return nil }
        oldBytes -= Self.weight(entry)
        place(wrapped, entry)
        return entry
    }

    /// Holds the committed value `bytes` of `key`, just read from storage, and returns its
    /// entry (a value too large to hold gets an entry that is not kept).
    @discardableResult
    mutating func insert(_ key: [UInt8], _ bytes: [UInt8]?) -> Entry {
        let entry = Entry(bytes)
        guard (bytes?.count ?? 0) <= Self.valueBytesMax else { return entry }
        let wrapped = StateKeyBytes(key)
        precondition(young[wrapped] == nil && old[wrapped] == nil, "state value cache: a key is inserted twice")
        place(wrapped, entry)
        return entry
    }

    /// Takes a committed block's changes: every held key it changed takes its new value (or
    /// its new absence). Keys not held stay out; they enter when first read.
    mutating func committed(_ changes: [StateEntryChange]) {
        for change in changes {
            let wrapped = StateKeyBytes(change.key)
            let fits = (change.value?.count ?? 0) <= Self.valueBytesMax
            // A changed key that is held is mostly held young (admission read it): the new
            // entry takes the old one's slot, one hash and one probe instead of a removal and
            // an insertion.
            if let index = young.index(forKey: wrapped) {
                let entry = Entry(change.value)
                let weightChange = Self.weight(entry) - Self.weight(young.values[index])
                if fits, youngBytes + weightChange <= generationBytesMax {
                    young.values[index] = entry
                    youngBytes += weightChange
                    continue
                }
                youngBytes -= Self.weight(young.remove(at: index).value)
            } else if let entry = old.removeValue(forKey: wrapped) {
                oldBytes -= Self.weight(entry)
            } else {
                continue
            }
            if fits { place(wrapped, Entry(change.value)) }
        }
        precondition(youngBytes >= 0 && oldBytes >= 0 && youngBytes <= generationBytesMax, "state value cache over its bound")
    }

    /// Bytes an entry counts against its generation's bound (keys are small and bounded).
    private static func weight(_ entry: Entry) -> Int { 64 + (entry.bytes?.count ?? 0) }

    /// Forgets everything.
    mutating func removeAll() {
        young.removeAll()
        old.removeAll()
        youngBytes = 0
        oldBytes = 0
    }

    private mutating func place(_ key: StateKeyBytes, _ entry: Entry) {
        if young.count >= generationEntriesMax || youngBytes + Self.weight(entry) > generationBytesMax {
            old = young
            oldBytes = youngBytes
            // Sized for a full generation at once, so filling it never rehashes it.
            young = Dictionary(minimumCapacity: generationEntriesMax)
            youngBytes = 0
        }
        young[key] = entry
        youngBytes += Self.weight(entry)
        precondition(young.count <= generationEntriesMax && youngBytes <= generationBytesMax, "state value cache over its bound")
    }
}
