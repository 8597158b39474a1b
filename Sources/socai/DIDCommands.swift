import ArgumentParser
import Foundation
import SocaiCore
import SocaiDID
import SocaiKeystore
import SocaiState

/// `socai did …`: decentralized identifiers of the `did:socai` method.
struct DIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "did",
        abstract: "Create and change did:socai identifiers.",
        subcommands: [
            Create.self, Show.self, Rotate.self, AddService.self, RemoveService.self, Deactivate.self, Resolve.self,
        ])

    /// Parses `id=type=endpoint`.
    static func service(_ text: String) throws -> DIDService {
        let parts = text.split(separator: "=", maxSplits: 2).map(String.init)
        guard parts.count == 3 else { throw ValidationError("--service \"\(text)\" must be id=type=endpoint") }
        do { return try DIDService(id: parts[0], type: parts[1], endpoint: parts[2]) } catch {
            throw ValidationError("--service: \(error.message)")
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the DID derived from a key; the key becomes key-1 (authentication and assertion).")

        @OptionGroup var transaction: TransactionOptions
        @Option(help: ArgumentHelp("A service, as id=type=endpoint (repeatable).", valueName: "service")) var service: [String] =
            []

        func run() throws {
            try failing {
                let services = try service.map(DIDCommand.service)
                try transaction.signAndPrint(DIDCreate(did: try transaction.derivedDID(), services: services))
            }
        }
    }

    /// `--did`, defaulting to the DID derived from the signing key.
    struct Target: ParsableArguments {
        @Option(help: "The DID to change (default: the one derived from --key).") var did: String?

        func resolve(_ transaction: TransactionOptions) throws -> DID {
            try did.map { try Parse.did($0, "--did") } ?? transaction.derivedDID()
        }
    }

    struct AddService: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-service", abstract: "Add a service to a DID document.")
        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var target: Target
        @Option(help: ArgumentHelp("The service, as id=type=endpoint.", valueName: "service")) var service: String

        func run() throws {
            try failing {
                try transaction.signAndPrint(
                    DIDUpdate(did: try target.resolve(transaction), operations: [.addService(try DIDCommand.service(service))]))
            }
        }
    }

    struct RemoveService: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-service", abstract: "Remove a service from a DID document.")
        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var target: Target
        @Option(help: "The service's id.") var id: String

        func run() throws {
            try failing {
                try transaction.signAndPrint(
                    DIDUpdate(did: try target.resolve(transaction), operations: [.removeService(id: id)]))
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a key of a DID document with another keystore key (one transaction).")
        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var target: Target
        @Option(name: .customLong("new-key"), help: "The keystore key to add.") var newKey: String
        @Option(name: .customLong("new-id"), help: "The new key's id in the document.") var newID: String
        @Option(name: .customLong("remove-id"), help: "The id of the key to remove.") var removeID = "key-1"

        func run() throws {
            try failing {
                let added = try Keystore(home: transaction.home.path).info(name: newKey).publicKey
                try transaction.signAndPrint(
                    DIDUpdate(
                        did: try target.resolve(transaction),
                        operations: [.addKey(id: newID, publicKey: added, relationships: .all), .removeKey(id: removeID)]))
            }
        }
    }

    struct Deactivate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate a DID for good.")
        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var target: Target

        func run() throws {
            try failing { try transaction.signAndPrint(DIDDeactivate(did: try target.resolve(transaction))) }
        }
    }
}
