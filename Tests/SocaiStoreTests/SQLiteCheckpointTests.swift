import Foundation
import SocaiCore
import Testing

@testable import SocaiStore

/// The stores leave their cached lookup statements mid-result (a lookup reads one row and
/// stops). Such a statement holds a read transaction open, and SQLite cannot checkpoint a
/// WAL past one, so before the fix no checkpoint ever ran and the WAL grew without bound.
@Suite struct SQLiteCheckpointTests {
    /// Automatic checkpoint threshold for the test, in WAL pages (the stores use 16,384).
    static let autocheckpointPages = 32
    /// Transactions written, each with `rowsPerTransaction` rows of about 100 bytes.
    static let transactions = 40
    static let rowsPerTransaction = 200

    /// A new database in WAL mode in `directory`, checkpointed automatically past
    /// `autocheckpointPages` pages (never when 0), with `schema` run on it.
    static func walDatabase(
        in directory: TemporaryDirectory, autocheckpointPages: Int, schema: String
    ) throws -> (path: String, connection: SQLiteConnection) {
        let path = directory.file("test.sqlite")
        let connection = try SQLiteConnection(path: path, create: true)
        try connection.execute("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=\(autocheckpointPages);")
        try connection.execute(schema)
        return (path, connection)
    }

    @Test func aLookupLeftMidResultDoesNotStopTheWalFromBeingCheckpointed() throws {
        let directory = TemporaryDirectory()
        let (path, connection) = try Self.walDatabase(
            in: directory, autocheckpointPages: Self.autocheckpointPages,
            schema: """
                CREATE TABLE nodes(hash BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                INSERT INTO meta(key, value) VALUES ('tip', x'00');
                """)
        // Keys spread over the table as node hashes do, the same on every run.
        var rowIndex: UInt64 = 0
        func nextRow() -> (key: [UInt8], node: [UInt8]) {
            rowIndex += 1
            let key = Hash.sha256(withUnsafeBytes(of: rowIndex.bigEndian) { Array($0) }).bytes
            return (key, key + Hash.sha256(key).bytes + [0])
        }
        for _ in 0..<Self.transactions {
            // A lookup as the stores do one: one row read, the statement left where it stopped.
            let lookup = try connection.cached("SELECT value FROM meta WHERE key = ?")
            try lookup.bind([.text("tip")])
            #expect(try lookup.step())
            try connection.inTransaction { () throws(StoreError) in
                let insert = try connection.cached("INSERT INTO nodes(hash, node) VALUES (?, ?)")
                for _ in 0..<Self.rowsPerTransaction {
                    let row = nextRow()
                    try insert.run([.blob(row.key), .blob(row.node)])
                }
                // A lookup inside the transaction, left mid-result at the commit.
                try lookup.bind([.text("tip")])
                #expect(try lookup.step())
            }
        }
        let pageBytes = 4_096
        let databaseBytes = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let walBytes = try #require(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
        // About 8,000 rows of ~100 bytes: checkpoints must have copied them into the database.
        #expect(databaseBytes > 100 * pageBytes, "the database file holds \(databaseBytes) bytes: no checkpoint ran")
        // The WAL restarts after each full checkpoint, so it stays near the threshold (one
        // transaction can overshoot it by its own pages).
        #expect(walBytes < 8 * Self.autocheckpointPages * (pageBytes + 24), "the WAL grew to \(walBytes) bytes")
    }

    /// The node's connection holds one read transaction across its lookups between writes
    /// (`holdReadTransactions`). It must end before each write and never pin the log: its
    /// snapshot is the latest, so another connection's checkpoint copies every frame back,
    /// and another connection sees every committed write.
    @Test func heldReadsEndBeforeEachWriteAndNeverPinTheLog() throws {
        let directory = TemporaryDirectory()
        // No automatic checkpoints: only the other connection's, below, copies pages back.
        let (path, connection) = try Self.walDatabase(
            in: directory, autocheckpointPages: 0,
            schema: """
                CREATE TABLE rows(id INTEGER PRIMARY KEY, value BLOB NOT NULL);
                INSERT INTO rows(id, value) VALUES (0, x'00');
                """)
        connection.holdReadTransactions()
        let other = try SQLiteConnection(path: path, create: false)
        for round in 1...Self.transactions {
            let lookup = try connection.cached("SELECT count(*) FROM rows")
            #expect(connection.readTransactionOpen)
            try lookup.bind([])
            #expect(try lookup.step())
            #expect(lookup.integer(0) == Int64((round - 1) * Self.rowsPerTransaction + 1))
            // A second lookup shares the open transaction.
            let again = try connection.cached("SELECT value FROM rows WHERE id = 0")
            try again.bind([])
            #expect(try again.step())
            try connection.inTransaction { () throws(StoreError) in
                #expect(!connection.readTransactionOpen)
                let insert = try connection.cached("INSERT INTO rows(id, value) VALUES (?, ?)")
                for row in 0..<Self.rowsPerTransaction {
                    try insert.run([
                        .integer(Int64((round - 1) * Self.rowsPerTransaction + row + 1)),
                        .blob([UInt8](repeating: 7, count: 100)),
                    ])
                }
            }
            #expect(!connection.readTransactionOpen)
            // The next lookup opens a transaction at the write just made; the other
            // connection sees that write too.
            let after = try connection.cached("SELECT count(*) FROM rows")
            #expect(connection.readTransactionOpen)
            try after.bind([])
            #expect(try after.step())
            #expect(after.integer(0) == Int64(round * Self.rowsPerTransaction + 1))
            let count = try other.prepare("SELECT count(*) FROM rows")
            try count.bind([])
            #expect(try count.step())
            #expect(count.integer(0) == Int64(round * Self.rowsPerTransaction + 1))
        }
        // With the node's reads held, another connection's checkpoint copies every frame.
        let checkpoint = try other.prepare("PRAGMA wal_checkpoint(PASSIVE)")
        try checkpoint.bind([])
        #expect(try checkpoint.step())
        #expect(checkpoint.integer(0) == 0, "the checkpoint was blocked")
        #expect(
            checkpoint.integer(1) > 0 && checkpoint.integer(1) == checkpoint.integer(2),
            "log \(checkpoint.integer(1)) frames, \(checkpoint.integer(2)) copied back")
    }
}
