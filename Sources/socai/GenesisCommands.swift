import ArgumentParser
import Foundation
import SocaiCore
import SocaiNode

/// `socai genesis …`: create and check genesis files.
struct GenesisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genesis",
        abstract: "Create and check genesis files.",
        subcommands: [Initialize.self, Validate.self])

    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a genesis file and a home directory for each local validator.",
            discussion: """
                Generates a key per validator and a governance key. Unless --production-keys is given, the \
                keys are marked TEST ONLY (in their file names and contents): they are for the local network \
                and are published in the repository.
                """)

        @Option(help: "Number of validators (1-\(LocalnetGenerator.validatorsMax)).") var validators = 4
        @Option(name: .customLong("chain-id"), help: "The chain id: a-z, 0-9 and '-'.") var chainID = "socai-localnet"
        @Option(help: ArgumentHelp("Where to write the genesis file.", valueName: "file")) var out = "Genesis/localnet.json"
        @Option(help: ArgumentHelp("Directory for node1 … nodeN.", valueName: "dir")) var nodes = "Nodes"
        @Option(name: .customLong("genesis-time-ms"), help: "Genesis time in Unix milliseconds (default: now).")
        var genesisTimeMilliseconds: UInt64?
        @Option(name: .customLong("peer-port-base"), help: "Consensus port of node1; node i uses base + i - 1.")
        var peerPortBase = 26611
        @Option(name: .customLong("api-port-base"), help: "HTTP port of node1; node i uses base + i - 1.") var apiPortBase = 26711
        @Flag(help: "Replace an existing genesis file and node configurations.") var force = false
        @Option(
            help: ArgumentHelp(
                "Register an organization: name=roles=publickey, roles provider and/or consumer joined by '+' (repeatable).",
                valueName: "organization"))
        var organization: [String] = []
        @Option(help: ArgumentHelp("Fund an account: publickey=credits (repeatable).", valueName: "account")) var account:
            [String] = []
        @Option(
            name: .customLong("governance-key"),
            help: ArgumentHelp("A governance public key, hex (repeatable; default: generate one).", valueName: "publickey"))
        var governanceKey: [String] = []
        @Option(name: .customLong("governance-threshold"), help: "How many governance keys must approve an action.")
        var governanceThreshold: UInt16 = 1
        @Flag(
            name: .customLong("production-keys"),
            help: "Do not mark the generated keys test-only (files node_key.json, mode 0600 enforced).")
        var productionKeys = false

        func validate() throws {
            guard (1...LocalnetGenerator.validatorsMax).contains(validators) else {
                throw ValidationError("--validators must be between 1 and \(LocalnetGenerator.validatorsMax)")
            }
            do { _ = try ChainID(chainID) } catch { throw ValidationError("--chain-id: \(error.message)") }
        }

        func run() throws {
            try failing {
                let now = UInt64(Date().timeIntervalSince1970 * 1000)
                var generator = LocalnetGenerator(
                    chainID: try ChainID(chainID), validatorCount: validators,
                    genesisTimeMilliseconds: genesisTimeMilliseconds ?? now)
                generator.peerPortBase = peerPortBase
                generator.apiPortBase = apiPortBase
                generator.testOnlyKeys = !productionKeys
                generator.governanceKeys = governanceKey
                generator.governanceThreshold = governanceThreshold
                generator.organizations = try organization.map { text in
                    let parts = text.split(separator: "=", maxSplits: 2).map(String.init)
                    guard parts.count == 3 else {
                        throw ValidationError("--organization \"\(text)\" must be name=roles=publickey")
                    }
                    let roles = try parts[1].split(separator: "+").map { role in
                        guard let parsed = OrganizationRole(rawValue: String(role)) else {
                            throw ValidationError("--organization role \"\(role)\" must be provider or consumer")
                        }
                        return parsed
                    }
                    return Genesis.OrganizationEntry(name: parts[0], publicKey: parts[2], roles: roles)
                }
                generator.accounts = try account.map { text in
                    let parts = text.split(separator: "=").map(String.init)
                    guard parts.count == 2, let credits = UInt64(parts[1]) else {
                        throw ValidationError("--account \"\(text)\" must be publickey=credits")
                    }
                    return Genesis.AccountEntry(publicKey: parts[0], balance: credits)
                }
                let result = try generator.write(
                    genesisPath: expandPath(out), nodesDirectory: expandPath(nodes), overwrite: force)
                print("Wrote \(out) (chain \(result.genesis.chainID), genesis hash \(result.genesis.hash))")
                for home in result.nodeHomes { print("Wrote \(home)") }
                if let path = result.governanceKeyPath { print("Wrote \(path) (governance key)") }
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a genesis file and print its hash.")

        @Argument(help: ArgumentHelp("The genesis file.", valueName: "file")) var file: String
        @Flag(help: "Print JSON.") var json = false

        struct Summary: Encodable {
            var chainID: String
            var formatVersion: UInt8
            var genesisHash: String
            var validatorsHash: String
            var totalPower: UInt64
            var validators: [Genesis.ValidatorEntry]
        }

        func run() throws {
            try failing {
                let genesis = try NodeHome.loadGenesis(at: expandPath(file))
                let summary = Summary(
                    chainID: genesis.chainID.value, formatVersion: genesis.formatVersion, genesisHash: genesis.hash.hex,
                    validatorsHash: genesis.validatorSet.hash.hex,
                    totalPower: genesis.validatorSet.totalPower, validators: genesis.file.validators)
                if json { try printJSON(summary); return }
                print("chain id:        \(summary.chainID)")
                print("format version:  \(summary.formatVersion)")
                print("genesis hash:    \(summary.genesisHash)")
                print("validators hash: \(summary.validatorsHash)")
                for validator in summary.validators {
                    print("validator:       \(validator.name) \(validator.publicKey) power \(validator.power)")
                }
            }
        }
    }
}
