import CSQLite

/// A failure reported by SQLite or by the store's own consistency checks.
public struct StoreError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// SQLite reported an error (I/O, locking, a full disk).
        case database
        /// Stored bytes do not decode or do not match their stored hash: the file is damaged.
        case corrupt
        /// A block was offered at a height other than tip + 1.
        case wrongHeight
        /// A block's previous-block hash is not the tip's hash.
        case brokenLink
        /// A block or store belongs to another chain or genesis.
        case wrongChain
        /// A block failed its own consistency checks, or its commit is not for it.
        case invalidBlock
        /// The store does not exist at the given path.
        case notFound
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}

/// SQLite's destructor constant telling it to copy bound bytes before `bind` returns.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A minimal owner of one SQLite connection: exactly the calls the stores need.
///
/// Not thread-safe: each connection belongs to one owner (a store), which serializes use.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    let path: String
    /// Prepared statements by SQL text, reused across calls (the hot paths run the same few).
    private var statementCache: [String: SQLiteStatement] = [:]
    /// Most cached statements; the stores use a fixed handful, so this is never reached in practice.
    static let statementCacheMax = 64
    /// Runs the checkpoints this connection's commits ask for; held so that it outlives the
    /// connection's hook.
    private var walCheckpointer: WALCheckpointer?
    /// Set by `holdReadTransactions()`.
    private var holdsReadTransactions = false
    /// Whether this connection opened a read transaction (`BEGIN`) that no write has ended yet.
    private(set) var readTransactionOpen = false

    /// Opens (or creates, when `create` is true) the database at `path`.
    init(path: String, create: Bool) throws(StoreError) {
        self.path = path
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            handle = nil
            if status == SQLITE_CANTOPEN, !create {
                throw StoreError(.notFound, "no block store at \(path)")
            }
            throw StoreError(.database, "cannot open \(path): \(message)")
        }
        // Wait up to 5 s on a lock held by another process rather than failing at once.
        sqlite3_busy_timeout(handle, 5_000)
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Hands the checkpoints this connection's commits call for to `checkpointer`, in place
    /// of SQLite's automatic checkpoint (a write-ahead-log hook replaces it).
    func routeCheckpoints(to checkpointer: WALCheckpointer) {
        walCheckpointer = checkpointer
        sqlite3_wal_hook(
            handle,
            { context, database, _, frames in
                guard let context, let database else { return SQLITE_OK }
                Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(
                    frames: frames, writer: database)
                return SQLITE_OK
            }, Unmanaged.passUnretained(checkpointer).toOpaque())
    }

    /// Lets this connection's reads outside a write transaction share one read transaction,
    /// held until the next write transaction begins (`inTransaction` ends it first), instead
    /// of SQLite opening and closing one around each lookup. Each of those took and released
    /// the database file's shared lock and a log read lock, each an `fcntl` call: with the
    /// state's tree nodes read back on a larger state, those calls were 3–4% of a validator's
    /// processor time. Only for the connection that makes every write to its file: the held
    /// snapshot is then always the latest, so checkpoints can copy the whole log back and
    /// the log can restart, while a reader of another process's store would see no new block.
    func holdReadTransactions() {
        holdsReadTransactions = true
    }

    /// A prepared statement for `sql`, reused from the cache when possible. On a connection
    /// that holds its reads (`holdReadTransactions()`), outside a write transaction, first
    /// begins the shared read transaction if none is open.
    func cached(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if holdsReadTransactions, !readTransactionOpen, sqlite3_get_autocommit(handle) != 0 {
            try execute("BEGIN")
            readTransactionOpen = true
        }
        let statement: SQLiteStatement
        if let held = statementCache[sql] {
            statement = held
        } else {
            statement = try prepare(sql)
            if statementCache.count < Self.statementCacheMax { statementCache[sql] = statement }
        }
        // A write in the held read transaction would stay uncommitted until the next
        // `inTransaction`: every write goes through `inTransaction`.
        precondition(
            !readTransactionOpen || statement.isReadOnly, "\(path): a write outside inTransaction while reads are held")
        return statement
    }

    /// Runs SQL with no results (one or more statements).
    func execute(_ sql: String) throws(StoreError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard status == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? "error \(status)"
            sqlite3_free(errorMessage)
            throw StoreError(.database, "\(path): \(message)")
        }
    }

    /// Prepares one statement.
    func prepare(_ sql: String) throws(StoreError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw StoreError(.database, "\(path): cannot prepare statement: \(lastErrorMessage)")
        }
        return SQLiteStatement(statement: statement, connection: self)
    }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Resets every cached statement. A statement left after returning a row (every lookup
    /// of one row is) keeps its read transaction open, and SQLite can checkpoint the WAL
    /// only up to the oldest open read transaction, including this connection's own: with
    /// one always open, no checkpoint ever copied a page back and the WAL grew without bound
    /// (350 MB after 24 blocks under load, with the database file still empty).
    func resetCachedStatements() {
        for statement in statementCache.values { statement.reset() }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws, after ending
    /// a held read transaction. No cached statement is left mid-result at either end, so the
    /// commit's automatic checkpoint can copy the whole WAL back (see `resetCachedStatements`).
    func inTransaction<Result>(_ body: () throws(StoreError) -> Result) throws(StoreError) -> Result {
        resetCachedStatements()
        if readTransactionOpen {
            // A write needs the latest snapshot and its own transaction; the held reads made no changes.
            readTransactionOpen = false
            try execute("COMMIT")
        }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            resetCachedStatements()
            try execute("COMMIT")
            return result
        } catch {
            // The rollback can fail only if the transaction is already gone; the original error matters.
            resetCachedStatements()
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// One prepared statement; finalized when released.
final class SQLiteStatement {
    private let statement: OpaquePointer
    private let connection: SQLiteConnection

    init(statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit { sqlite3_finalize(statement) }

    /// Binds values to parameters 1, 2, … in order, after resetting the statement.
    func bind(_ values: [SQLiteValue]) throws(StoreError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let number):
                status = sqlite3_bind_int64(statement, index, number)
            case .text(let text):
                status = sqlite3_bind_text(statement, index, text, -1, transientDestructor)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes { bindBlob($0, at: index) }
            }
            guard status == SQLITE_OK else {
                throw StoreError(.database, "\(connection.path): cannot bind parameter \(index): \(connection.lastErrorMessage)")
            }
        }
    }

    /// Binds `buffer` to parameter `index`; SQLite copies it (`SQLITE_TRANSIENT`), so it need
    /// not outlive the call.
    private func bindBlob(_ buffer: UnsafeRawBufferPointer, at index: Int32) -> Int32 {
        // A zero-length blob still needs a non-null pointer to be stored as a blob, not NULL.
        sqlite3_bind_blob(
            statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count),
            transientDestructor)
    }

    /// Runs a statement whose parameters are an integer and a blob taken from a raw buffer:
    /// for the rows of state-tree nodes a block writes, without building a value array and a
    /// byte array per row.
    func run(integer first: Int64, blob second: UnsafeRawBufferPointer) throws(StoreError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        guard sqlite3_bind_int64(statement, 1, first) == SQLITE_OK, bindBlob(second, at: 2) == SQLITE_OK else {
            throw StoreError(.database, "\(connection.path): cannot bind a parameter: \(connection.lastErrorMessage)")
        }
        while try step() {}
    }

    /// Whether the statement makes no direct change to the database.
    var isReadOnly: Bool { sqlite3_stmt_readonly(statement) != 0 }

    /// Ends the statement's current run, closing the read transaction a run left mid-result
    /// holds; its bindings stay.
    func reset() { sqlite3_reset(statement) }

    /// Advances to the next row; returns false when the statement is done.
    func step() throws(StoreError) -> Bool {
        let status = sqlite3_step(statement)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            throw StoreError(.database, "\(connection.path): \(connection.lastErrorMessage)")
        }
    }

    /// Runs a statement that returns no rows.
    func run(_ values: [SQLiteValue] = []) throws(StoreError) {
        try bind(values)
        while try step() {}
    }

    /// The integer in column `index` of the current row.
    func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(statement, index) }

    /// Whether column `index` of the current row is NULL.
    func isNull(_ index: Int32) -> Bool { sqlite3_column_type(statement, index) == SQLITE_NULL }

    /// The bytes in column `index` of the current row.
    func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, index))
        guard count > 0, let pointer = sqlite3_column_blob(statement, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// The text in column `index` of the current row.
    func text(_ index: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, index) else { return "" }
        return String(cString: pointer)
    }
}

/// A value bound to a statement parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}
