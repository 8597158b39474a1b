import ArgumentParser
import SocaiCore
import SocaiCrypto
import SocaiKeystore
import SocaiState

/// `socai governance …`: actions that need M of the N governance keys named in genesis.
struct GovernanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "governance",
        abstract: "Register or suspend organizations, change validators and parameters (M-of-N governance keys).",
        discussion: """
            Each other governance key first runs `socai governance approve` with the same action and sequence and \
            hands over the printed approval; the submitter then passes every approval with --approval.
            """,
        subcommands: [Approve.self, Submit.self])

    /// The action, from options.
    struct ActionOptions: ParsableArguments {
        @Option(
            help: "register-organization, suspend-organization, reinstate-organization, set-validator-power or set-parameters.")
        var action: String
        @Option(help: "The organization's DID.") var did: String?
        @Option(help: "The organization's name (register-organization).") var name: String?
        @Option(help: "Roles, comma-separated: provider, consumer (register-organization).") var roles: String?
        @Option(name: .customLong("validator-key"), help: "The validator's public key, hex (set-validator-power).")
        var validatorKey: String?
        @Option(help: "Voting power; 0 removes the validator (set-validator-power).") var power: UInt64?
        @Option(name: .customLong("block-bytes-max"), help: "Largest block in bytes (set-parameters).") var blockBytesMax: UInt32?
        @Option(name: .customLong("block-transactions-max"), help: "Most transactions per block (set-parameters).")
        var blockTransactionsMax: UInt32?
        @Option(help: "The governance sequence number this action takes (the ledger's last + 1).") var sequence: UInt64

        func governanceAction() throws -> GovernanceAction {
            func required<Value>(_ value: Value?, _ option: String) throws -> Value {
                guard let value else { throw ValidationError("--action \(action) needs \(option)") }
                return value
            }
            switch action {
            case "register-organization":
                let roleList = try required(roles, "--roles").split(separator: ",").map { text in
                    guard let role = OrganizationRole(rawValue: String(text)) else {
                        throw ValidationError("--roles: \"\(text)\" is not provider or consumer")
                    }
                    return role
                }
                return .registerOrganization(
                    did: try Parse.did(try required(did, "--did"), "--did"), name: try required(name, "--name"), roles: roleList)
            case "suspend-organization": return .suspendOrganization(did: try Parse.did(try required(did, "--did"), "--did"))
            case "reinstate-organization": return .reinstateOrganization(did: try Parse.did(try required(did, "--did"), "--did"))
            case "set-validator-power":
                let key: PublicKey
                do { key = try PublicKey(hex: try required(validatorKey, "--validator-key")) } catch let error as FormatError {
                    throw ValidationError("--validator-key: \(error.message)")
                }
                return .setValidatorPower(publicKey: key, power: try required(power, "--power"))
            case "set-parameters":
                return .setParameters(
                    blockBytesMax: try required(blockBytesMax, "--block-bytes-max"),
                    blockTransactionsMax: try required(blockTransactionsMax, "--block-transactions-max"))
            default:
                throw ValidationError("--action \"\(action)\" is unknown")
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign your approval of a governance action; prints it as KEY:SIGNATURE.")

        @OptionGroup var action: ActionOptions
        @Option(help: "Your governance key in the keystore.") var key: String
        @Option(name: .customLong("chain-id"), help: "The chain.") var chainID = "socai-localnet"
        @OptionGroup var home: HomeOptions
        @OptionGroup var passphrase: PassphraseOptions

        func run() throws {
            try failing {
                let parsed = try action.governanceAction()
                let keystore = Keystore(home: home.path)
                _ = try keystore.info(name: key)
                let signingKey = try keystore.unlock(
                    name: key, passphrase: try passphrase.read(prompt: "Passphrase for key \"\(key)\": ", confirm: false))
                let approval = Governance.approve(
                    chainID: try ChainID(chainID), sequence: action.sequence, action: parsed, key: signingKey)
                print("\(approval.publicKey.hex):\(approval.signature.hex)")
            }
        }
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a governance transaction carrying other keys' approvals.")

        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var action: ActionOptions
        @Option(help: ArgumentHelp("Another governance key's approval, KEY:SIGNATURE (repeatable).", valueName: "approval"))
        var approval: [String] = []

        func run() throws {
            try failing {
                let approvals = try approval.map { text in
                    let parts = text.split(separator: ":").map(String.init)
                    guard parts.count == 2 else { throw ValidationError("--approval \"\(text)\" must be KEY:SIGNATURE") }
                    do {
                        return GovernanceApproval(
                            publicKey: try PublicKey(hex: parts[0]), signature: try Signature(try Hex.decode(parts[1])))
                    } catch { throw ValidationError("--approval: \(error)") }
                }
                try transaction.signAndPrint(
                    Governance(sequence: action.sequence, action: try action.governanceAction(), approvals: approvals))
            }
        }
    }
}
