import SocaiCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The chain-export file (docs/FORMAT.md §30): a magic and version, the genesis file's JSON
/// bytes, then one record per block from height 1 (the block's canonical bytes and its commit
/// certificate's), then an end marker with the block count. Self-contained: with it and
/// docs/FORMAT.md an auditor needs nothing else from the network.
public enum ChainExport {
    /// The first eight bytes of every export: ASCII `SOCAIEXP`.
    public static let magic: [UInt8] = Array("SOCAIEXP".utf8)
    /// The only format version.
    public static let formatVersion: UInt8 = 1
    /// Tag byte before each block record.
    public static let recordTag: UInt8 = 0x01
    /// Tag byte before the end marker.
    public static let endTag: UInt8 = 0x00
    /// Longest commit certificate: 47 bytes plus 96 per precommit, at most `validatorsMax` of them.
    public static let certificateBytesMax = 47 + 96 * Limits.validatorsMax
    /// Most blocks one export may hold (2^40): far above any chain, low enough to stay exact everywhere.
    public static let blocksMax: UInt64 = 1 << 40
    /// Bytes before the genesis JSON: magic, version, genesis length.
    public static let headerBytes = 8 + 1 + 4
    /// Bytes of the end marker: tag and block count.
    public static let endBytes = 1 + 8
}

/// Why an export file could not be written or read.
public struct ChainExportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable, Equatable {
        /// The file cannot be opened, read, written or renamed.
        case io
        /// The file is not an export (magic), or an unknown version.
        case notAnExport
        /// A length or count is over its limit.
        case overLimit
        /// The file ends early.
        case truncated
        /// Bytes follow the end marker, a tag is unknown, or the count disagrees with the records.
        case malformed
    }

    /// The kind of problem.
    public let code: Code
    /// One line saying what was wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Writes an export file: to `path.partial` first, renamed over `path` only once complete and
/// synced, so a reader never sees half an export under the final name.
public final class ChainExportWriter {
    private let path: String
    private let partialPath: String
    private var file: UnsafeMutablePointer<FILE>?
    /// Blocks written so far; the next record is for height `blocksWritten + 1`.
    public private(set) var blocksWritten: UInt64 = 0

    /// Starts an export of the chain whose genesis file has the bytes `genesisJSON`.
    public init(path: String, genesisJSON: [UInt8]) throws(ChainExportError) {
        guard !genesisJSON.isEmpty, genesisJSON.count <= Limits.genesisFileBytesMax else {
            throw ChainExportError(.overLimit, "a genesis file of \(genesisJSON.count) bytes cannot be exported")
        }
        self.path = path
        partialPath = path + ".partial"
        guard let opened = fopen(partialPath, "wb") else {
            throw ChainExportError(.io, "cannot create \(partialPath): \(String(cString: strerror(errno)))")
        }
        file = opened
        var writer = ByteWriter()
        writer.writeRaw(ChainExport.magic)
        writer.write(ChainExport.formatVersion)
        writer.write(UInt32(genesisJSON.count))
        writer.writeRaw(genesisJSON)
        try write(writer.bytes)
    }

    deinit {
        if let file {
            fclose(file)
            unlink(partialPath)
        }
    }

    private func write(_ bytes: [UInt8]) throws(ChainExportError) {
        guard let file else { preconditionFailure("the export is already finished") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else {
            throw ChainExportError(.io, "cannot write \(partialPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Appends the record of the next block: its canonical bytes and its certificate's.
    public func append(blockBytes: [UInt8], certificateBytes: [UInt8]) throws(ChainExportError) {
        guard !blockBytes.isEmpty, blockBytes.count <= Limits.blockBytesMax else {
            throw ChainExportError(.overLimit, "block \(blocksWritten + 1) of \(blockBytes.count) bytes cannot be exported")
        }
        guard !certificateBytes.isEmpty, certificateBytes.count <= ChainExport.certificateBytesMax else {
            throw ChainExportError(
                .overLimit, "certificate \(blocksWritten + 1) of \(certificateBytes.count) bytes cannot be exported")
        }
        guard blocksWritten < ChainExport.blocksMax else {
            throw ChainExportError(.overLimit, "an export holds at most \(ChainExport.blocksMax) blocks")
        }
        var writer = ByteWriter()
        writer.write(ChainExport.recordTag)
        writer.write(UInt32(blockBytes.count))
        writer.writeRaw(blockBytes)
        writer.write(UInt32(certificateBytes.count))
        writer.writeRaw(certificateBytes)
        try write(writer.bytes)
        blocksWritten += 1
    }

    /// Writes the end marker, syncs the file and renames it to its final name.
    public func finish() throws(ChainExportError) {
        var writer = ByteWriter()
        writer.write(ChainExport.endTag)
        writer.write(blocksWritten)
        try write(writer.bytes)
        guard let file else { preconditionFailure("the export is already finished") }
        self.file = nil
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        let closed = fclose(file) == 0
        guard flushed, closed else {
            unlink(partialPath)
            throw ChainExportError(.io, "cannot sync \(partialPath): \(String(cString: strerror(errno)))")
        }
        guard rename(partialPath, path) == 0 else {
            unlink(partialPath)
            throw ChainExportError(.io, "cannot rename \(partialPath) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Reads an export file strictly and in order, one record at a time, so a chain of any length
/// is read in bounded memory.
public final class ChainExportReader {
    private let path: String
    private var file: UnsafeMutablePointer<FILE>?
    /// The genesis file's bytes carried in the export.
    public let genesisJSON: [UInt8]
    /// The block count the end marker claims (read ahead from the end of the file); checked
    /// against the records when the end marker is reached.
    public let claimedBlockCount: UInt64
    /// Records read so far.
    public private(set) var blocksRead: UInt64 = 0
    private var ended = false

    /// Opens `path` and reads the header and genesis.
    public init(path: String) throws(ChainExportError) {
        self.path = path
        guard let opened = fopen(path, "rb") else {
            throw ChainExportError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        file = opened
        var header = try Self.read(opened, ChainExport.headerBytes, "the export header", path)
        guard Array(header[0..<8]) == ChainExport.magic else {
            throw ChainExportError(.notAnExport, "\(path) is not a Socai chain export")
        }
        guard header[8] == ChainExport.formatVersion else {
            throw ChainExportError(.notAnExport, "\(path) is a chain export of unknown version \(header[8])")
        }
        header.removeFirst(9)
        let genesisLength = Int(Self.bigEndian(header))
        guard genesisLength >= 1, genesisLength <= Limits.genesisFileBytesMax else {
            throw ChainExportError(.overLimit, "\(path): a genesis of \(genesisLength) bytes is over the limit")
        }
        genesisJSON = try Self.read(opened, genesisLength, "the genesis file", path)
        // Peek at the end marker for the count (progress needs a total), then come back.
        let recordsStart = ftell(opened)
        var claimed: UInt64 = 0
        if fseek(opened, -Int(ChainExport.endBytes), SEEK_END) == 0, ftell(opened) >= recordsStart {
            let end = try Self.read(opened, ChainExport.endBytes, "the end marker", path)
            if end[0] == ChainExport.endTag { claimed = Self.bigEndian(end[1...]) }
        }
        claimedBlockCount = min(claimed, ChainExport.blocksMax)
        guard fseek(opened, recordsStart, SEEK_SET) == 0 else {
            throw ChainExportError(.io, "cannot seek in \(path)")
        }
    }

    deinit { if let file { fclose(file) } }

    private static func bigEndian(_ bytes: some Collection<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func read(
        _ file: UnsafeMutablePointer<FILE>, _ count: Int, _ what: String, _ path: String
    ) throws(ChainExportError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
        guard got == count else {
            if ferror(file) != 0 { throw ChainExportError(.io, "cannot read \(path)") }
            throw ChainExportError(.truncated, "\(path) ends inside \(what)")
        }
        return bytes
    }

    /// The next record (height `blocksRead + 1`), or nil after a valid end marker.
    public func next() throws(ChainExportError) -> (block: [UInt8], certificate: [UInt8])? {
        guard let file, !ended else { return nil }
        let height = blocksRead + 1
        let tag = try Self.read(file, 1, "the record of block \(height)", path)[0]
        if tag == ChainExport.endTag {
            let count = Self.bigEndian(try Self.read(file, 8, "the end marker", path))
            guard count == blocksRead else {
                throw ChainExportError(.malformed, "the end marker counts \(count) blocks, but the export holds \(blocksRead)")
            }
            var extra: UInt8 = 0
            guard fread(&extra, 1, 1, file) == 0 else {
                throw ChainExportError(.malformed, "bytes follow the end marker")
            }
            ended = true
            return nil
        }
        guard tag == ChainExport.recordTag else {
            throw ChainExportError(.malformed, "record \(height) has unknown tag \(tag)")
        }
        guard blocksRead < ChainExport.blocksMax else {
            throw ChainExportError(.overLimit, "an export holds at most \(ChainExport.blocksMax) blocks")
        }
        let blockLength = Int(Self.bigEndian(try Self.read(file, 4, "the length of block \(height)", path)))
        guard blockLength >= 1, blockLength <= Limits.blockBytesMax else {
            throw ChainExportError(.overLimit, "block \(height) claims \(blockLength) bytes")
        }
        let block = try Self.read(file, blockLength, "block \(height)", path)
        let certificateLength = Int(Self.bigEndian(try Self.read(file, 4, "the certificate length of block \(height)", path)))
        guard certificateLength >= 1, certificateLength <= ChainExport.certificateBytesMax else {
            throw ChainExportError(.overLimit, "the certificate of block \(height) claims \(certificateLength) bytes")
        }
        let certificate = try Self.read(file, certificateLength, "the certificate of block \(height)", path)
        blocksRead = height
        return (block, certificate)
    }
}
