import SocaiCore
import SocaiStore

/// Where an audit reads blocks from: an export file or a node's block store. Blocks come in
/// height order from 1, as raw bytes; the auditor decodes and checks them itself.
public protocol BlockSource: AnyObject {
    /// The height of the last block the source claims to hold (for progress only; not trusted).
    var claimedHeight: UInt64 { get }
    /// The genesis hash the source says its chain starts from, if it says one (not trusted:
    /// a mismatch with the auditor's genesis file is reported before block 1).
    var claimedGenesisHash: Hash? { get }
    /// The node's own records, to compare with the replay; nil for an export file.
    var recorded: StoredChainReader? { get }
    /// The block and certificate bytes of the next height, or nil after the last.
    func nextRecord() throws(AuditFailure) -> (block: [UInt8], certificate: [UInt8])?
}

/// Blocks from a chain-export file (docs/FORMAT.md §30).
public final class ExportBlockSource: BlockSource {
    private let reader: ChainExportReader
    /// The genesis JSON carried in the export.
    public var genesisJSON: [UInt8] { reader.genesisJSON }
    /// The block count the export's end marker claims.
    public var claimedHeight: UInt64 { reader.claimedBlockCount }
    /// The hash of the genesis carried in the export, or nil when it does not parse.
    public let claimedGenesisHash: Hash?
    /// Exports carry no node records.
    public var recorded: StoredChainReader? { nil }

    /// Opens the export at `path`.
    public init(path: String) throws(AuditFailure) {
        do throws(ChainExportError) { reader = try ChainExportReader(path: path) } catch {
            throw AuditFailure(.source, height: nil, error.message)
        }
        claimedGenesisHash = try? Genesis(jsonBytes: reader.genesisJSON).hash
    }

    /// The next record; a damaged record fails at the height it was meant to hold.
    public func nextRecord() throws(AuditFailure) -> (block: [UInt8], certificate: [UInt8])? {
        do throws(ChainExportError) { return try reader.next() } catch {
            throw AuditFailure(.source, height: reader.blocksRead + 1, "the export record is damaged: \(error.message)")
        }
    }
}

/// Blocks from a node's SQLite block store, read raw (see `StoredChainReader`).
public final class StoreBlockSource: BlockSource {
    private let reader: StoredChainReader
    private var nextHeight: UInt64 = 1
    private let keepsState: Bool

    /// Opens the store at `path` (a node home's `data/chain.sqlite`).
    public init(path: String) throws(AuditFailure) {
        do throws(StoreError) {
            reader = try StoredChainReader(path: path)
            // A store written without ledger state (block-only) records no roots or results to compare.
            keepsState = try reader.recordedStateRoot(atHeight: 0) != nil
        } catch {
            throw AuditFailure(.source, height: nil, error.message)
        }
    }

    /// The tip height in the store's metadata.
    public var claimedHeight: UInt64 { reader.tipHeight }
    /// The genesis hash in the store's metadata.
    public var claimedGenesisHash: Hash? { reader.genesisHash }
    /// The store, when it keeps ledger state.
    public var recorded: StoredChainReader? { keepsState ? reader : nil }

    /// The next stored block, up to the recorded tip; a missing row is a failure at its height.
    public func nextRecord() throws(AuditFailure) -> (block: [UInt8], certificate: [UInt8])? {
        guard nextHeight <= reader.tipHeight else { return nil }
        let height = nextHeight
        let stored: (block: [UInt8], certificate: [UInt8])?
        do throws(StoreError) { stored = try reader.storedBytes(at: height) } catch {
            throw AuditFailure(.source, height: height, "cannot read the block: \(error.message)")
        }
        guard let stored else {
            throw AuditFailure(
                .missingBlock, height: height, "the block is missing from the store (its tip is \(reader.tipHeight))")
        }
        nextHeight += 1
        return stored
    }
}
