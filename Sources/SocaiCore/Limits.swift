/// Every size limit of the canonical formats, in one place.
///
/// Decoders enforce these before allocating, so a hostile length prefix can never make a
/// node allocate more than the limit. docs/FORMAT.md lists the same numbers.
public enum Limits {
    /// Longest chain identifier, in bytes.
    public static let chainIDBytesMax = 50
    /// Longest transaction payload, in bytes.
    public static let transactionPayloadBytesMax = 64 * 1024
    /// Longest encoded transaction envelope, in bytes (payload plus fixed fields).
    public static let transactionBytesMax = transactionPayloadBytesMax + 256
    /// Most transactions in one block.
    public static let blockTransactionsMax = 10_000
    /// Longest encoded block, in bytes.
    public static let blockBytesMax = 8 * 1024 * 1024
    /// Most evidence items in one block.
    public static let blockEvidenceMax = 100
    /// Most validators in a validator set.
    public static let validatorsMax = 150
    /// Largest voting power of one validator; keeps every sum of powers far below 2^63.
    public static let votingPowerMax: UInt64 = 1 << 50
    /// Highest consensus round a vote or proposal may carry.
    public static let roundMax: UInt32 = 1_000_000
    /// Longest human-readable name (validator, organization), in bytes of UTF-8.
    public static let nameBytesMax = 64
    /// Most governance keys named in genesis.
    public static let governanceKeysMax = 32
    /// Most organizations registered in genesis.
    public static let genesisOrganizationsMax = 10_000
    /// Most funded accounts in genesis.
    public static let genesisAccountsMax = 100_000
    /// Largest total of credits minted in genesis (every later sum stays below 2^63).
    public static let creditsTotalMax: UInt64 = 1 << 62
    /// Longest genesis file accepted, in bytes.
    public static let genesisFileBytesMax = 16 * 1024 * 1024
}
