import ArgumentParser
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiKeystore
import SocaiState

/// `socai key …`: create and inspect encrypted keys.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create and inspect your encrypted Ed25519 keys.",
        subcommands: [New.self, List.self, Show.self, Sign.self, Verify.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new key, encrypted under a passphrase.",
            discussion: "The secret key is encrypted with Argon2id and XChaCha20-Poly1305 and stored with mode 0600.")

        @Option(help: "A name for the key: letters, digits, '.', '_' or '-'.") var name: String
        @OptionGroup var home: HomeOptions
        @OptionGroup var passphrase: PassphraseOptions
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            do { try Keystore.validate(name: name) } catch { throw ValidationError(error.message) }
        }

        func run() throws {
            try failing {
                let keystore = Keystore(home: home.path)
                let secret = try passphrase.read(prompt: "Passphrase for the new key \"\(name)\": ", confirm: true)
                let info = try keystore.create(name: name, passphrase: secret)
                if json {
                    try printJSON(info)
                } else {
                    print("Created key \"\(info.name)\" in \(keystore.path(for: info.name))")
                    print("public key: \(info.publicKey.hex)")
                    print("did:key:    \(info.didKey)")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys in the keystore.")

        @OptionGroup var home: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try failing {
                let keys = try Keystore(home: home.path).list()
                if json { try printJSON(keys.map(KeyOutput.init)); return }
                if keys.isEmpty { print("No keys in \(home.path). Create one with: socai key new --name NAME") }
                for key in keys { print("\(key.name)\t\(key.publicKey.hex)") }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a key's public key and DID.")

        @Option(help: "The key's name.") var name: String
        @OptionGroup var home: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            do { try Keystore.validate(name: name) } catch { throw ValidationError(error.message) }
        }

        func run() throws {
            try failing {
                let output = KeyOutput(try Keystore(home: home.path).info(name: name))
                if json { try printJSON(output); return }
                print("name:       \(output.name)")
                output.printLines()
            }
        }
    }

    /// The message given as `--message TEXT` or `--message-file FILE`.
    struct MessageOptions: ParsableArguments {
        @Option(help: "The message text (UTF-8).") var message: String?
        @Option(name: .customLong("message-file"), help: ArgumentHelp("Read the message bytes from a file.", valueName: "file"))
        var messageFile: String?

        func validate() throws {
            guard (message == nil) != (messageFile == nil) else {
                throw ValidationError("give exactly one of --message or --message-file")
            }
        }

        func bytes() throws -> [UInt8] {
            if let message { return Array(message.utf8) }
            let path = expandPath(messageFile!)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let data = FileManager.default.contents(atPath: path)
            else {
                throw CommandFailure("cannot read message file \(path)")
            }
            guard (attributes[.size] as? Int ?? 0) <= SignedMessage.messageBytesMax else {
                throw CommandFailure("message file \(path) is larger than \(SignedMessage.messageBytesMax) bytes")
            }
            return Array(data)
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a message with a key (proves you hold it).",
            discussion:
                "The signature covers the tag socai/sign/message/v1 and the message, so it can never pass as a transaction or vote signature."
        )

        @Option(help: "The key's name.") var name: String
        @OptionGroup var message: MessageOptions
        @OptionGroup var home: HomeOptions
        @OptionGroup var passphrase: PassphraseOptions
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            var publicKey: String
            var signature: String
        }

        func validate() throws {
            do { try Keystore.validate(name: name) } catch { throw ValidationError(error.message) }
        }

        func run() throws {
            try failing {
                let keystore = Keystore(home: home.path)
                _ = try keystore.info(name: name)  // a missing key fails before the prompt
                let bytes = try message.bytes()
                let secret = try passphrase.read(prompt: "Passphrase for key \"\(name)\": ", confirm: false)
                let key = try keystore.unlock(name: name, passphrase: secret)
                let signature = Signature(signing: SignedMessage.signingBytes(bytes), with: key)
                if json {
                    try printJSON(Output(publicKey: PublicKey(of: key).hex, signature: signature.hex))
                } else {
                    print(signature.hex)
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a message signature made with `socai key sign`.")

        @Option(name: .customLong("public-key"), help: "The signer's public key (64 hex digits).") var publicKey: String
        @Option(help: "The signature (128 hex digits).") var signature: String
        @OptionGroup var message: MessageOptions

        func run() throws {
            try failing {
                let key = try PublicKey(hex: publicKey)
                let signatureBytes: [UInt8]
                do { signatureBytes = try Hex.decode(signature) } catch { throw CommandFailure("--signature: \(error)") }
                let parsed = try Signature(signatureBytes)
                guard key.isValidSignature(parsed, of: SignedMessage.signingBytes(try message.bytes())) else {
                    throw CommandFailure("the signature is NOT valid for this message and public key")
                }
                print("valid")
            }
        }
    }

    /// A key as printed: its public key and the identifiers derived from it.
    struct KeyOutput: Encodable {
        var name: String
        var publicKey: String
        /// The did:socai a `did create` with this key makes.
        var did: String
        /// The key as did:key.
        var didKey: String

        init(_ info: KeyInfo) {
            name = info.name
            publicKey = info.publicKey.hex
            did = DID(initialKey: info.publicKey).value
            didKey = info.didKey
        }

        func printLines() {
            print("public key: \(publicKey)")
            print("did:socai:  \(did)  (once created with `socai did create`)")
            print("did:key:    \(didKey)")
        }
    }
}
