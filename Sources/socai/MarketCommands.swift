import ArgumentParser
import SocaiCore
import SocaiState

/// `socai market …`: data products, orders and escrow.
struct MarketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "market",
        abstract: "Offer, buy, deliver and pay for data products.",
        subcommands: [Offer.self, Buy.self, Deliver.self, Confirm.self, Refund.self])

    struct Offer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or close offers.", subcommands: [Create.self, Close.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "As a registered provider, offer a data product.")

            @OptionGroup var transaction: TransactionOptions
            @Option(help: "The offer's title.") var title: String
            @Option(help: ArgumentHelp("Data categories, comma-separated.", valueName: "categories")) var data: String
            @Option(name: .customLong("schema-hash"), help: "SHA-256 of the product's schema (hex).") var schemaHash: String?
            @Option(name: .customLong("schema-file"), help: "A schema file whose SHA-256 is used.") var schemaFile: String?
            @Option(help: "Price in credits.") var price: UInt64
            @Option(help: "Purpose codes the license allows, comma-separated.") var purposes: String
            @Option(name: .customLong("license-days"), help: "Days the buyer may use the data.") var licenseDays: UInt64 = 30
            @Flag(help: "Allow the buyer to resell.") var resale = false
            @Option(help: ArgumentHelp("A data subject whose personal data the product carries (repeatable).", valueName: "did"))
            var subject: [String] = []
            @Option(name: .customLong("deadline-blocks"), help: "Blocks within which you must deliver an order.")
            var deadlineBlocks: UInt64 = 100
            @Option(help: "Your provider DID (default: the one derived from --key).") var provider: String?

            func run() throws {
                try failing {
                    let license: License
                    do {
                        license = try License(
                            allowedPurposes: purposes.split(separator: ",").map(String.init),
                            durationMilliseconds: licenseDays * 86_400_000,
                            resaleAllowed: resale)
                    } catch { throw ValidationError("--purposes/--license-days: \(error)") }
                    let offer = OfferCreate(
                        provider: try provider.map { try Parse.did($0, "--provider") } ?? transaction.derivedDID(), title: title,
                        categories: try Parse.categories(data, "--data"),
                        schemaHash: try Parse.hashOrFile(hex: schemaHash, file: schemaFile, "schema"), price: price,
                        license: license,
                        subjects: try subject.map { try Parse.did($0, "--subject") }, deliveryDeadlineBlocks: deadlineBlocks)
                    try transaction.signAndPrint(offer)
                }
            }
        }

        struct Close: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Withdraw an offer.")
            @OptionGroup var transaction: TransactionOptions
            @Option(help: "The offer's id.") var offer: String

            func run() throws { try failing { try transaction.signAndPrint(OfferClose(id: try Parse.hash(offer, "--offer"))) } }
        }
    }

    struct Buy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "As a registered consumer, buy an offer for a licensed purpose; the price goes into escrow.",
            discussion: "For personal data, give one --consent per data subject, in the offer's subject order.")

        @OptionGroup var transaction: TransactionOptions
        @Option(help: "The offer's id.") var offer: String
        @Option(help: "The purpose code.") var purpose: String
        @Option(help: ArgumentHelp("A subject's consent id (repeatable).", valueName: "id")) var consent: [String] = []
        @Option(help: "Your consumer DID (default: the one derived from --key).") var consumer: String?

        func run() throws {
            try failing {
                let order = OrderPlace(
                    consumer: try consumer.map { try Parse.did($0, "--consumer") } ?? transaction.derivedDID(),
                    offerID: try Parse.hash(offer, "--offer"), purposeCode: purpose,
                    consentIDs: try consent.map { try Parse.hash($0, "--consent") })
                try transaction.signAndPrint(order)
            }
        }
    }

    struct Deliver: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "As the provider, record the hash of the package you delivered.")
        @OptionGroup var transaction: TransactionOptions
        @Option(help: "The order's id.") var order: String
        @Option(name: .customLong("package-hash"), help: "SHA-256 of the package (hex).") var packageHash: String?
        @Option(name: .customLong("package-file"), help: "The package file, whose SHA-256 is recorded.") var packageFile: String?

        func run() throws {
            try failing {
                try transaction.signAndPrint(
                    OrderDeliver(
                        orderID: try Parse.hash(order, "--order"),
                        packageHash: try Parse.hashOrFile(hex: packageHash, file: packageFile, "package")))
            }
        }
    }

    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "As the buyer, confirm delivery: escrow is paid to the provider.")
        @OptionGroup var transaction: TransactionOptions
        @Option(help: "The order's id.") var order: String

        func run() throws { try failing { try transaction.signAndPrint(OrderConfirm(id: try Parse.hash(order, "--order"))) } }
    }

    struct Refund: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "As the buyer, take back escrow after an undelivered order's deadline.")
        @OptionGroup var transaction: TransactionOptions
        @Option(help: "The order's id.") var order: String

        func run() throws { try failing { try transaction.signAndPrint(OrderRefund(id: try Parse.hash(order, "--order"))) } }
    }
}

/// `socai transfer`: move credits.
struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transfer", abstract: "Move credits from your DID to another.")

    @OptionGroup var transaction: TransactionOptions
    @Option(help: "The receiving DID.") var to: String
    @Option(help: "Credits to move.") var amount: UInt64
    @Option(help: "The paying DID (default: the one derived from --key).") var from: String?

    func validate() throws { guard amount > 0 else { throw ValidationError("--amount must be positive") } }

    func run() throws {
        try failing {
            try transaction.signAndPrint(
                Transfer(
                    from: try from.map { try Parse.did($0, "--from") } ?? transaction.derivedDID(), to: try Parse.did(to, "--to"),
                    amount: amount))
        }
    }
}
