import ArgumentParser
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiKeystore
import SocaiState

/// Options shared by every command that builds and signs a ledger transaction.
struct TransactionOptions: ParsableArguments {
    @Option(help: "The keystore key that signs the transaction.") var key: String
    @Option(name: .customLong("chain-id"), help: "The chain the transaction is for.") var chainID = "socai-localnet"
    @Option(help: "The signer's next nonce (1 for a new key; each transaction uses the next one).") var nonce: UInt64
    @OptionGroup var home: HomeOptions
    @OptionGroup var passphrase: PassphraseOptions
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "The node to submit to.") var node = "http://127.0.0.1:26711"
    @Flag(help: "Only print the signed transaction; do not submit it.") var offline = false

    func validate() throws {
        do { try Keystore.validate(name: key) } catch { throw ValidationError(error.message) }
        do { _ = try ChainID(chainID) } catch { throw ValidationError("--chain-id: \(error.message)") }
        guard nonce >= 1 else { throw ValidationError("--nonce starts at 1") }
    }

    /// The key's public part, read without the passphrase.
    func publicKey() throws -> PublicKey { try Keystore(home: home.path).info(name: key).publicKey }

    /// The DID derived from the key (the DID it created, unless the key was added later).
    func derivedDID() throws -> DID { DID(initialKey: try publicKey()) }

    /// Unlocks the key, signs `payload` and prints the transaction.
    func signAndPrint(_ payload: some LedgerPayload) throws {
        let keystore = Keystore(home: home.path)
        _ = try keystore.info(name: key)  // a missing key fails before the prompt
        let secret = try passphrase.read(prompt: "Passphrase for key \"\(key)\": ", confirm: false)
        let signingKey = try keystore.unlock(name: key, passphrase: secret)
        let envelope = try payload.envelope(chainID: try ChainID(chainID), key: signingKey, nonce: nonce)
        var output = SignedTransactionOutput(envelope: envelope, kind: type(of: payload).kind)
        if !offline {
            let answer = try NodeClient(node).submitAndWait(envelope)
            let result = answer["result"] as? [String: Any]
            output.height = (result?["height"] as? NSNumber)?.uint64Value
            output.code = result?["code"] as? String
            output.message = result?["message"] as? String
        }
        if json {
            try printJSON(output)
        } else {
            print("Signed \(output.kind) transaction")
            print("  hash:        \(output.hash)")
            print("  signer:      \(output.signer)")
            print("  nonce:       \(output.nonce)")
            print("  chain:       \(output.chainID)")
            if let code = output.code {
                print("  committed:   height \(output.height ?? 0), result \(code): \(output.message ?? "")")
            } else {
                print("  transaction: \(output.transaction)")
                print("Not submitted (--offline). Its id (for consents, offers, orders) is its hash.")
            }
        }
        if let code = output.code, code != "ok" {
            throw CommandFailure("transaction \(output.hash) was committed but rejected: \(code): \(output.message ?? "")")
        }
    }
}

/// The printed form of a signed transaction.
struct SignedTransactionOutput: Encodable {
    var kind: String
    var hash: String
    var signer: String
    var nonce: UInt64
    var chainID: String
    /// The canonical envelope bytes, hex (docs/FORMAT.md §4).
    var transaction: String
    /// Height of the block that committed it (when submitted).
    var height: UInt64?
    /// Result code name (when submitted).
    var code: String?
    /// Result explanation (when submitted).
    var message: String?

    init(envelope: TransactionEnvelope, kind: TransactionKind) {
        self.kind = kind.name
        hash = envelope.hash.hex
        signer = envelope.signer.hex
        nonce = envelope.nonce
        chainID = envelope.chainID.value
        transaction = Hex.encode(envelope.canonicalBytes)
    }
}

/// Parsing helpers for command-line values, each failing with a message naming the option.
enum Parse {
    static func did(_ text: String, _ option: String) throws -> DID {
        do { return try DID(text) } catch { throw ValidationError("\(option): \(error.message)") }
    }

    static func hash(_ text: String, _ option: String) throws -> Hash {
        do { return try Hash(hex: text) } catch { throw ValidationError("\(option): \(error.message)") }
    }

    static func categories(_ text: String, _ option: String) throws -> [DataCategory] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("\(option) needs at least one data category") }
        do { return try names.map { name throws(FormatError) in try DataCategory(name) } } catch {
            throw ValidationError("\(option): \(error.message)")
        }
    }

    static func purpose(code: String, text: String?, _ option: String) throws -> Purpose {
        do { return try Purpose(code: code, text: text ?? code) } catch { throw ValidationError("\(option): \(error.message)") }
    }

    /// A time as Unix milliseconds: `YYYY-MM-DD` (UTC; as an end, the day is included),
    /// an RFC 3339 time such as `2027-06-30T12:00:00Z`, or an integer of milliseconds.
    static func time(_ text: String, _ option: String, endOfDay: Bool) throws -> UInt64 {
        if let milliseconds = UInt64(text) { return milliseconds }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return UInt64(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions = [.withFullDate]
        if let date = formatter.date(from: text) {
            return UInt64(date.timeIntervalSince1970 * 1000) + (endOfDay ? 86_400_000 : 0)
        }
        throw ValidationError("\(option) \"\(text)\" is not YYYY-MM-DD, an RFC 3339 time or Unix milliseconds")
    }

    /// SHA-256 of a file's contents, or a hash given as hex.
    static func hashOrFile(hex: String?, file: String?, _ option: String) throws -> Hash {
        if let hex { return try hash(hex, "--\(option)-hash") }
        guard let file else { throw ValidationError("give --\(option)-hash HEX or --\(option)-file FILE") }
        guard let data = FileManager.default.contents(atPath: expandPath(file)) else {
            throw ValidationError("cannot read --\(option)-file \(file)")
        }
        return Hash.sha256(Array(data))
    }
}

/// The current wall-clock time in Unix milliseconds: only ever a default a person can override.
func nowMilliseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
