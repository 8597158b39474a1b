import Foundation
import SocaiCore
import SocaiCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a keystore operation failed; `message` is one line naming the key and the problem.
public struct KeystoreError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// The key name breaks the naming rules.
        case invalidName
        /// A key with this name already exists.
        case alreadyExists
        /// No key with this name exists.
        case notFound
        /// Decryption failed: the passphrase is wrong or the encrypted part was altered.
        case wrongPassphrase
        /// The key file is truncated, malformed, or its fields do not agree.
        case corrupt
        /// The key file can be read by other users.
        case insecurePermissions
        /// The passphrase is unacceptable (too short or too long).
        case weakPassphrase
        /// A file-system operation failed.
        case io
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

/// The public part of a stored key.
public struct KeyInfo: Sendable, Equatable, Codable {
    /// The key's name in the keystore.
    public let name: String
    /// The Ed25519 public key.
    public let publicKey: PublicKey

    /// The key as `did:key` (W3C CCG did:key method, Ed25519).
    public var didKey: String { DIDKey.identifier(for: publicKey) }

    enum CodingKeys: String, CodingKey { case name, publicKey, didKey }

    /// Creates a key description.
    public init(name: String, publicKey: PublicKey) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Decodes from `{"name", "publicKey"}`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        publicKey = try PublicKey(hex: try container.decode(String.self, forKey: .publicKey))
    }

    /// Encodes name, public key (hex) and did:key.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(publicKey.hex, forKey: .publicKey)
        try container.encode(didKey, forKey: .didKey)
    }
}

/// Ed25519 keys stored on disk, each encrypted under a passphrase.
///
/// Layout: `<home>/keys/<name>.key`, the directory mode 0700 and each file mode 0600.
/// A key file is JSON (docs/FORMAT.md, "Key files"): the public key in the clear, the
/// 32-byte seed sealed with XChaCha20-Poly1305 under a key derived by Argon2id. Every
/// clear field is bound in as associated data, so altering any of them makes decryption fail.
public struct Keystore: Sendable {
    /// Shortest passphrase accepted for a new key, in bytes.
    public static let passphraseBytesMin = 8
    /// Longest key name, in bytes.
    public static let nameBytesMax = 64
    /// Largest key file read, in bytes (a real one is under 1 KiB).
    public static let keyFileBytesMax = 16 * 1024
    /// The file-name extension of key files.
    public static let fileExtension = "key"

    /// The keystore's home directory (`--home`).
    public let home: String

    /// A keystore rooted at `home`; nothing is created until a key is.
    public init(home: String) { self.home = home }

    /// `<home>/keys`.
    public var keysDirectory: String { (home as NSString).appendingPathComponent("keys") }

    /// Path of the file for key `name`.
    public func path(for name: String) -> String {
        (keysDirectory as NSString).appendingPathComponent("\(name).\(Self.fileExtension)")
    }

    /// Throws unless `name` is 1 to 64 of `A-Z a-z 0-9 . _ -` and does not start with '.' or '-'.
    public static func validate(name: String) throws(KeystoreError) {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard !bytes.isEmpty, bytes.count <= nameBytesMax, allowed, bytes[0] != UInt8(ascii: "."), bytes[0] != UInt8(ascii: "-")
        else {
            throw KeystoreError(
                .invalidName,
                "key name \"\(name)\" must be 1 to \(nameBytesMax) characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.' or '-'"
            )
        }
    }

    /// Creates key `name` from `seed` (or from fresh randomness), encrypted under `passphrase`.
    @discardableResult
    public func create(
        name: String, passphrase: [UInt8], seed: [UInt8]? = nil,
        parameters: Argon2idParameters = .moderate
    ) throws(KeystoreError) -> KeyInfo {
        try Self.validate(name: name)
        guard passphrase.count >= Self.passphraseBytesMin else {
            throw KeystoreError(.weakPassphrase, "the passphrase must be at least \(Self.passphraseBytesMin) bytes")
        }
        let filePath = path(for: name)
        if FileManager.default.fileExists(atPath: filePath) {
            throw KeystoreError(.alreadyExists, "a key named \"\(name)\" already exists at \(filePath)")
        }
        let signingKey: SigningKey
        do throws(CryptoError) {
            signingKey = try seed.map { seed throws(CryptoError) in try SigningKey(seed: seed) } ?? SigningKey()
        } catch {
            throw KeystoreError(.invalidName, "cannot create key \"\(name)\": \(error.message)")
        }
        let info = KeyInfo(name: name, publicKey: PublicKey(of: signingKey))
        let file: KeyFile
        do throws(CryptoError) {
            file = try KeyFile.seal(info: info, signingKey: signingKey, passphrase: passphrase, parameters: parameters)
        } catch {
            throw KeystoreError(.io, "cannot encrypt key \"\(name)\": \(error.message)")
        }
        try createDirectory()
        try writeExclusively(file.jsonBytes(), to: filePath, name: name)
        return info
    }

    /// The public parts of every key, sorted by name.
    public func list() throws(KeystoreError) -> [KeyInfo] {
        guard FileManager.default.fileExists(atPath: keysDirectory) else { return [] }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: keysDirectory) } catch {
            throw KeystoreError(.io, "cannot list \(keysDirectory): \(error.localizedDescription)")
        }
        let suffix = "." + Self.fileExtension
        return try entries.filter { $0.hasSuffix(suffix) }.sorted().map { entry throws(KeystoreError) in
            try info(name: String(entry.dropLast(suffix.count)))
        }
    }

    /// The public part of key `name`, read without the passphrase.
    public func info(name: String) throws(KeystoreError) -> KeyInfo {
        let file = try readFile(name: name)
        return KeyInfo(name: file.name, publicKey: file.publicKey)
    }

    /// Decrypts key `name` with `passphrase`.
    public func unlock(name: String, passphrase: [UInt8]) throws(KeystoreError) -> SigningKey {
        let file = try readFile(name: name)
        return try file.open(passphrase: passphrase)
    }

    private func readFile(name: String) throws(KeystoreError) -> KeyFile {
        try Self.validate(name: name)
        let filePath = path(for: name)
        var status = stat()
        guard stat(filePath, &status) == 0 else {
            throw KeystoreError(.notFound, "no key named \"\(name)\" in \(keysDirectory)")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw KeystoreError(
                .insecurePermissions,
                "key file \(filePath) is readable by other users (mode \(String(status.st_mode & 0o777, radix: 8))); run chmod 600 on it"
            )
        }
        guard Int(status.st_size) <= Self.keyFileBytesMax else {
            throw KeystoreError(.corrupt, "key file \(filePath) is \(status.st_size) bytes, more than a key file can be")
        }
        guard let data = FileManager.default.contents(atPath: filePath) else {
            throw KeystoreError(.io, "cannot read key file \(filePath)")
        }
        let file = try KeyFile(jsonBytes: Array(data), path: filePath)
        guard file.name == name else {
            throw KeystoreError(.corrupt, "key file \(filePath) is for key \"\(file.name)\", not \"\(name)\"")
        }
        return file
    }

    private func createDirectory() throws(KeystoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: keysDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KeystoreError(.io, "cannot create \(keysDirectory): \(error.localizedDescription)")
        }
    }

    /// Writes a temporary file with mode 0600, syncs it, then links it to `path`: the link
    /// fails if the name exists, so two writers never overwrite each other and a crash never
    /// leaves a half-written key under its real name.
    private func writeExclusively(_ bytes: [UInt8], to path: String, name: String) throws(KeystoreError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw KeystoreError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary) }
        let written = bytes.withUnsafeBytes { buffer in write(descriptor, buffer.baseAddress, buffer.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0 else {
            throw KeystoreError(.io, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST {
                throw KeystoreError(.alreadyExists, "a key named \"\(name)\" already exists at \(path)")
            }
            throw KeystoreError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }
}
