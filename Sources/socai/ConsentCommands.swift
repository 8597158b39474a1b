import ArgumentParser
import Foundation
import SocaiAPI
import SocaiCore
import SocaiState

/// `socai consent …`: a citizen's consents and consumers' requests for them.
struct ConsentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Grant, revoke, request and list consents.",
        subcommands: [Grant.self, Revoke.self, Request.self, List.self])

    /// What a consent or request covers.
    struct Terms: ParsableArguments {
        @Option(help: "The consumer organization's DID.") var consumer: String
        @Option(help: "The data provider organization's DID.") var provider: String
        @Option(help: "The purpose code, e.g. loan-assessment.") var purpose: String
        @Option(name: .customLong("purpose-text"), help: "The purpose explained in words (default: the code).") var purposeText:
            String?
        @Option(
            help: ArgumentHelp("Data categories, comma-separated (e.g. civil-status,health.records).", valueName: "categories"))
        var data: String
        @Option(help: "Access mode: view, store or query.") var mode = "view"
        @Option(help: "End of validity: YYYY-MM-DD (that day included), an RFC 3339 time or Unix milliseconds.") var until: String

        func validate() throws {
            guard AccessMode(name: mode) != nil else { throw ValidationError("--mode must be view, store or query") }
        }
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant a consumer consent to use named data from a provider for one purpose.",
            discussion: "Each purpose is granted separately. Signed by an authentication key of your DID.")

        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var terms: Terms
        @Option(help: "Your DID (default: the one derived from --key).") var subject: String?
        @Option(help: "Start of validity (default: now).") var from: String?
        @Option(name: .customLong("max-accesses"), help: "At most this many accesses (default: unlimited).") var maxAccesses:
            UInt32?
        @Option(help: "The id of the consent request this grant answers.") var request: String?

        func run() throws {
            try failing {
                let grant = ConsentGrant(
                    subject: try subject.map { try Parse.did($0, "--subject") } ?? transaction.derivedDID(),
                    consumer: try Parse.did(terms.consumer, "--consumer"), provider: try Parse.did(terms.provider, "--provider"),
                    purpose: try Parse.purpose(code: terms.purpose, text: terms.purposeText, "--purpose"),
                    categories: try Parse.categories(terms.data, "--data"), mode: AccessMode(name: terms.mode)!,
                    validFromMilliseconds: try from.map { try Parse.time($0, "--from", endOfDay: false) } ?? nowMilliseconds(),
                    validUntilMilliseconds: try Parse.time(terms.until, "--until", endOfDay: true), accessesMax: maxAccesses,
                    requestID: try request.map { try Parse.hash($0, "--request") })
                try transaction.signAndPrint(grant)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw a consent, effective from the block that records it; earlier accesses stay lawful.")

        @OptionGroup var transaction: TransactionOptions
        @Argument(help: ArgumentHelp("The consent's id (its grant transaction's hash).", valueName: "id")) var id: String

        func run() throws {
            try failing { try transaction.signAndPrint(ConsentRevoke(consentID: try Parse.hash(id, "id"))) }
        }
    }

    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "As a consumer, ask a citizen for consent.")

        @OptionGroup var transaction: TransactionOptions
        @OptionGroup var terms: Terms
        @Option(help: "The citizen's DID.") var subject: String

        func run() throws {
            try failing {
                let request = ConsentRequest(
                    consumer: try Parse.did(terms.consumer, "--consumer"), subject: try Parse.did(subject, "--subject"),
                    provider: try Parse.did(terms.provider, "--provider"),
                    purpose: try Parse.purpose(code: terms.purpose, text: terms.purposeText, "--purpose"),
                    categories: try Parse.categories(terms.data, "--data"), mode: AccessMode(name: terms.mode)!,
                    validUntilMilliseconds: try Parse.time(terms.until, "--until", endOfDay: true))
                try transaction.signAndPrint(request)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List consents by subject or consumer, with their status, from a node's stored state.")

        @Option(help: "The citizen's DID.") var subject: String?
        @Option(help: "The consumer organization's DID.") var consumer: String?
        @OptionGroup var state: StateOptions
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (subject == nil) != (consumer == nil) else {
                throw ValidationError("give exactly one of --subject or --consumer")
            }
        }

        func run() throws {
            try failing {
                let (queries, time) = try state.open()
                let consents =
                    try subject.map { try queries.consents(subject: try Parse.did($0, "--subject")) }
                    ?? queries.consents(consumer: try Parse.did(consumer!, "--consumer"))
                let rows = consents.map { ConsentView($0.record, atMilliseconds: time, proven: $0.proof.verify()) }
                if json { try printJSON(rows); return }
                if rows.isEmpty { print("No consents.") }
                for row in rows {
                    print("\(row.id)  \(row.status)  \(row.subject) → \(row.consumer) from \(row.provider)")
                    print(
                        "    purpose \(row.purposeCode); data \(row.categories.joined(separator: ",")); \(row.mode); accesses \(row.accessCount)"
                    )
                }
            }
        }
    }
}
