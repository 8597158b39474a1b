import ArgumentParser
import SocaiAPI
import SocaiCore
import SocaiState

/// `socai access …`: accesses under consents, and a citizen's access log.
struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "Record data accesses and read a citizen's access log.",
        subcommands: [Record.self, Log.self])

    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "As a provider, record that you delivered data to a consumer under a consent.")

        @OptionGroup var transaction: TransactionOptions
        @Option(help: "The consent's id.") var consent: String
        @Option(help: "The consumer organization's DID.") var consumer: String
        @Option(help: "Your provider DID (default: the one derived from --key).") var provider: String?
        @Option(help: ArgumentHelp("Data categories delivered, comma-separated.", valueName: "categories")) var data: String
        @Option(help: "The purpose code.") var purpose: String
        @Option(name: .customLong("delivered-hash"), help: "SHA-256 of what was delivered (hex).") var deliveredHash: String?
        @Option(name: .customLong("delivered-file"), help: "A file whose SHA-256 is recorded.") var deliveredFile: String?

        func run() throws {
            try failing {
                let access = AccessRecord(
                    consentID: try Parse.hash(consent, "--consent"),
                    provider: try provider.map { try Parse.did($0, "--provider") } ?? transaction.derivedDID(),
                    consumer: try Parse.did(consumer, "--consumer"), categories: try Parse.categories(data, "--data"),
                    purposeCode: purpose,
                    deliveredHash: try Parse.hashOrFile(hex: deliveredHash, file: deliveredFile, "delivered"))
                try transaction.signAndPrint(access)
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who used a citizen's data, when, and under which consent — each entry proven against the state root.")

        @Option(help: "The citizen's DID.") var subject: String
        @OptionGroup var state: StateOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try failing {
                let (queries, _) = try state.open()
                let (entries, count) = try queries.accessLog(subject: try Parse.did(subject, "--subject"))
                let rows = entries.map { AccessView($0.record, proven: $0.proof.verify()) }
                if json { try printJSON(rows); return }
                print("\(rows.count) access(es) recorded; count proven: \(count.verify())")
                for row in rows {
                    print(
                        "height \(row.height)  \(row.consumer) got \(row.categories.joined(separator: ",")) from \(row.provider)")
                    print("    for \(row.purposeCode) under consent \(row.consentID); proven \(row.proven ?? false)")
                }
            }
        }
    }
}
