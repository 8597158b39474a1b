import ArgumentParser

/// The `socai` command line: keys, genesis, chain inspection and the local network.
@main
struct SocaiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socai",
        abstract: "Socai: a permissioned ledger for consent, data access and data products.",
        discussion: """
            Citizens and organizations keep their keys here; operators create genesis files and \
            run validators; auditors verify stored chains. Formats are specified in docs/FORMAT.md.
            """,
        version: "0.1.0",
        subcommands: [
            KeyCommand.self, DIDCommand.self, ConsentCommand.self, AccessCommand.self, MarketCommand.self, TransferCommand.self,
            GovernanceCommand.self,
            NodeCommand.self, GenesisCommand.self, ChainCommand.self, LocalnetCommand.self, DevelopmentCommand.self,
            AuditCommand.self,
            HarnessCommand.self, SimCommand.self,
        ]
    )
}
