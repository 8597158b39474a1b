import ArgumentParser
import Foundation
import SocaiCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A command failure: printed as one line `Error: …`, exit status 1, never a stack trace.
struct CommandFailure: Error, CustomStringConvertible, LocalizedError {
    let message: String
    init(_ message: String) { self.message = message }
    init(_ error: some Error) { self.message = "\(error)" }
    var description: String { message }
    var errorDescription: String? { message }
}

/// Runs `body`, turning any library error into a one-line `CommandFailure`.
func failing<Result>(_ body: () throws -> Result) throws -> Result {
    do { return try body() } catch let error as CommandFailure { throw error } catch let error as ExitCode { throw error } catch {
        throw CommandFailure(error)
    }
}

/// The default home directory for keys: `~/.socai`.
func defaultHome() -> String {
    let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
    return (home as NSString).appendingPathComponent(".socai")
}

/// Expands a leading `~` in a path given on the command line.
func expandPath(_ path: String) -> String { (path as NSString).expandingTildeInPath }

/// Prints `value` as pretty JSON with sorted keys.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Where a passphrase comes from, in order: `--passphrase-file`, `SOCAI_PASSPHRASE`, a prompt.
struct PassphraseOptions: ParsableArguments {
    @Option(
        name: .customLong("passphrase-file"),
        help: ArgumentHelp(
            "Read the passphrase from the first line of this file.", valueName: "file"))
    var passphraseFile: String?

    static let environmentVariable = "SOCAI_PASSPHRASE"
    static let bytesMax = PassphraseCipher.passphraseBytesMax

    /// Obtains the passphrase; `confirm` asks twice at an interactive prompt.
    func read(prompt: String, confirm: Bool) throws -> [UInt8] {
        if let passphraseFile {
            let path = expandPath(passphraseFile)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("cannot read passphrase file \(path)")
            }
            guard data.count <= Self.bytesMax + 2 else {
                throw CommandFailure("passphrase file \(path) is longer than \(Self.bytesMax) bytes")
            }
            var bytes = Array(data)
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { bytes.removeSubrange(newline...) }
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            return bytes
        }
        if let value = ProcessInfo.processInfo.environment[Self.environmentVariable] {
            guard value.utf8.count <= Self.bytesMax else {
                throw CommandFailure("\(Self.environmentVariable) is longer than \(Self.bytesMax) bytes")
            }
            return Array(value.utf8)
        }
        guard isatty(STDIN_FILENO) == 1 else {
            throw CommandFailure(
                "no passphrase: give --passphrase-file FILE or set \(Self.environmentVariable) when not at a terminal")
        }
        let first = try readWithoutEcho(prompt: prompt)
        if confirm {
            let second = try readWithoutEcho(prompt: "Repeat the passphrase: ")
            guard first == second else { throw CommandFailure("the two passphrases differ") }
        }
        return first
    }

    /// Reads one line from the terminal with echo turned off, restoring the terminal after.
    private func readWithoutEcho(prompt: String) throws -> [UInt8] {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { throw CommandFailure("cannot read the terminal settings") }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent) == 0 else { throw CommandFailure("cannot turn off terminal echo") }
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        var bytes: [UInt8] = []
        while bytes.count <= Self.bytesMax {
            var byte: UInt8 = 0
            let count = Glibc.read(STDIN_FILENO, &byte, 1)
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        guard bytes.count <= Self.bytesMax else { throw CommandFailure("the passphrase is longer than \(Self.bytesMax) bytes") }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return bytes
    }
}

/// `--home DIR` for commands that use the keystore.
struct HomeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The directory holding your keys (default ~/.socai).", valueName: "dir"))
    var home: String?

    var path: String { home.map(expandPath) ?? defaultHome() }
}
