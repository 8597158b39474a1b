import Foundation

/// Why a genesis file was rejected, with a code a caller (and a test) can switch on.
public struct GenesisError: Error, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: String, Sendable, Equatable {
        /// The file is not JSON of the genesis shape, or is too large.
        case malformed
        /// The format version is not one this implementation knows.
        case unknownVersion
        /// The chain id breaks the chain-id rules.
        case invalidChainID
        /// No validators are listed.
        case emptyValidatorSet
        /// Too many validators, keys, organizations or accounts, or no governance key at all.
        case tooMany
        /// One key is listed twice in the same list.
        case duplicateKey
        /// A validator has zero voting power.
        case zeroPower
        /// A validator's power or the credits total exceeds its limit.
        case overLimit
        /// A key is not 64 lowercase hex digits.
        case invalidKey
        /// A name is empty, too long or contains control characters.
        case invalidName
        /// The governance threshold is 0 or above the number of governance keys.
        case invalidThreshold
        /// An organization lists no role, or one role twice. (An unknown role name is `malformed`.)
        case invalidRole
        /// A block parameter is zero or above the protocol's hard limit.
        case invalidParameter
    }

    /// The kind of problem.
    public let code: Code
    /// A one-line explanation naming the field and value at fault.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}

/// A role an organization may hold in the data exchange.
public enum OrganizationRole: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Holds citizens' records and records accesses and deliveries.
    case provider
    /// Requests consent, uses data under it and buys data products.
    case consumer

    /// The role's bit in the canonical roles byte.
    public var bit: UInt8 {
        switch self {
        case .provider: return 0b01
        case .consumer: return 0b10
        }
    }

    /// Orders roles by their bit.
    public static func < (left: OrganizationRole, right: OrganizationRole) -> Bool { left.bit < right.bit }
}

/// The genesis document: the chain's identity, first validator set, governance keys and
/// initial state. An auditor trusts this file and docs/FORMAT.md, and nothing else.
///
/// The JSON file is the human form; the genesis hash is over the canonical binary
/// encoding (docs/FORMAT.md §11), so the order and spacing of the JSON do not matter.
public struct Genesis: Sendable, Equatable, CanonicalEncodable {
    /// The format version new genesis files get: 2, whose state keeps a DID's superseded
    /// versions only (docs/FORMAT.md §11, §23).
    public static let formatVersionLatest: UInt8 = 2
    /// The format versions this implementation executes. Version 1's chains keep their
    /// rules, so that they still replay from their genesis file.
    public static let formatVersionsKnown: ClosedRange<UInt8> = 1...2

    /// A validator in the first validator set.
    public struct ValidatorEntry: Sendable, Equatable, Codable {
        /// A label for operators (node name or organization).
        public var name: String
        /// The consensus key, 64 hex digits.
        public var publicKey: String
        /// Voting power, 1 ... 2^50.
        public var power: UInt64

        /// Creates an entry.
        public init(name: String, publicKey: String, power: UInt64) {
            self.name = name
            self.publicKey = publicKey
            self.power = power
        }
    }

    /// The governance keys and how many of them must sign a governance transaction.
    public struct Governance: Sendable, Equatable, Codable {
        /// Governance public keys, 64 hex digits each.
        public var keys: [String]
        /// M of the M-of-N rule: 1 ... keys.count.
        public var threshold: UInt16

        /// Creates a governance section.
        public init(keys: [String], threshold: UInt16) {
            self.keys = keys
            self.threshold = threshold
        }
    }

    /// An organization registered from the start.
    public struct OrganizationEntry: Sendable, Equatable, Codable {
        /// The organization's name.
        public var name: String
        /// Its initial key, 64 hex digits.
        public var publicKey: String
        /// Its roles.
        public var roles: [OrganizationRole]

        /// Creates an entry.
        public init(name: String, publicKey: String, roles: [OrganizationRole]) {
            self.name = name
            self.publicKey = publicKey
            self.roles = roles
        }
    }

    /// An account funded with credits at genesis (the only time credits are minted).
    public struct AccountEntry: Sendable, Equatable, Codable {
        /// The account's key, 64 hex digits.
        public var publicKey: String
        /// Its initial balance in credits.
        public var balance: UInt64

        /// Creates an entry.
        public init(publicKey: String, balance: UInt64) {
            self.publicKey = publicKey
            self.balance = balance
        }
    }

    /// Block limits in force for the chain, each at most the protocol's hard limit.
    public struct Parameters: Sendable, Equatable, Codable {
        /// Largest encoded block, in bytes.
        public var blockBytesMax: UInt32
        /// Most transactions per block.
        public var blockTransactionsMax: UInt32

        /// Creates parameters.
        public init(blockBytesMax: UInt32, blockTransactionsMax: UInt32) {
            self.blockBytesMax = blockBytesMax
            self.blockTransactionsMax = blockTransactionsMax
        }

        /// The protocol's hard limits.
        public static let standard = Parameters(
            blockBytesMax: UInt32(Limits.blockBytesMax), blockTransactionsMax: UInt32(Limits.blockTransactionsMax))
    }

    /// The JSON form, exactly as the file spells it.
    public struct File: Sendable, Equatable, Codable {
        /// 1 or 2 (`Genesis.formatVersionsKnown`).
        public var formatVersion: UInt8
        /// The chain id.
        public var chainID: String
        /// Genesis time, milliseconds since the Unix epoch (UTC); block 1's time must not be earlier.
        public var genesisTimeMilliseconds: UInt64
        /// The first validator set.
        public var validators: [ValidatorEntry]
        /// Governance keys and threshold.
        public var governance: Governance
        /// Organizations registered from the start.
        public var organizations: [OrganizationEntry]
        /// Accounts funded at genesis.
        public var accounts: [AccountEntry]
        /// Block limits.
        public var parameters: Parameters

        /// Creates a file value.
        public init(
            formatVersion: UInt8 = Genesis.formatVersionLatest, chainID: String, genesisTimeMilliseconds: UInt64,
            validators: [ValidatorEntry], governance: Governance, organizations: [OrganizationEntry] = [],
            accounts: [AccountEntry] = [], parameters: Parameters = .standard
        ) {
            self.formatVersion = formatVersion
            self.chainID = chainID
            self.genesisTimeMilliseconds = genesisTimeMilliseconds
            self.validators = validators
            self.governance = governance
            self.organizations = organizations
            self.accounts = accounts
            self.parameters = parameters
        }
    }

    /// A validated validator: name, key and power.
    public struct NamedValidator: Sendable, Equatable {
        /// Operator label.
        public let name: String
        /// Consensus key.
        public let publicKey: PublicKey
        /// Voting power.
        public let power: UInt64
    }

    /// A validated organization.
    public struct Organization: Sendable, Equatable {
        /// Name.
        public let name: String
        /// Initial key.
        public let publicKey: PublicKey
        /// Roles, ascending by bit.
        public let roles: [OrganizationRole]
    }

    /// A validated funded account.
    public struct Account: Sendable, Equatable {
        /// Key.
        public let publicKey: PublicKey
        /// Initial balance.
        public let balance: UInt64
    }

    /// The chain's format version (`formatVersionsKnown`): it selects the state rules the
    /// chain is executed by, and is part of the genesis hash.
    public let formatVersion: UInt8
    /// The chain id.
    public let chainID: ChainID
    /// Genesis time in milliseconds since the Unix epoch.
    public let genesisTimeMilliseconds: UInt64
    /// The first validators, ascending by key.
    public let validators: [NamedValidator]
    /// The first validator set.
    public let validatorSet: ValidatorSet
    /// Governance keys, ascending.
    public let governanceKeys: [PublicKey]
    /// How many governance keys must sign.
    public let governanceThreshold: UInt16
    /// Organizations, ascending by key.
    public let organizations: [Organization]
    /// Funded accounts, ascending by key.
    public let accounts: [Account]
    /// Block limits.
    public let parameters: Parameters

    /// Parses and validates a genesis file's bytes.
    public init(jsonBytes: [UInt8]) throws(GenesisError) {
        guard jsonBytes.count <= Limits.genesisFileBytesMax else {
            throw GenesisError(.malformed, "genesis file of \(jsonBytes.count) bytes exceeds \(Limits.genesisFileBytesMax)")
        }
        try Self.rejectUnknownMembers(jsonBytes)
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(jsonBytes))
        } catch let error as DecodingError {
            throw GenesisError(.malformed, "genesis file is not valid: \(Self.describe(error))")
        } catch {
            throw GenesisError(.malformed, "genesis file is not valid JSON: \(error)")
        }
        try self.init(file: file)
    }

    /// Validates a genesis value.
    public init(file: File) throws(GenesisError) {
        guard Self.formatVersionsKnown.contains(file.formatVersion) else {
            throw GenesisError(
                .unknownVersion,
                "genesis formatVersion \(file.formatVersion) is unknown (expected \(Self.formatVersionsKnown.lowerBound) to \(Self.formatVersionsKnown.upperBound))"
            )
        }
        formatVersion = file.formatVersion
        do throws(FormatError) { chainID = try ChainID(file.chainID) } catch {
            throw GenesisError(.invalidChainID, "genesis chainID: \(error.message)")
        }
        genesisTimeMilliseconds = file.genesisTimeMilliseconds

        guard !file.validators.isEmpty else {
            throw GenesisError(.emptyValidatorSet, "genesis lists no validators; at least one is required")
        }
        guard file.validators.count <= Limits.validatorsMax else {
            throw GenesisError(
                .tooMany, "genesis lists \(file.validators.count) validators; the maximum is \(Limits.validatorsMax)")
        }
        var validators: [NamedValidator] = []
        for (index, entry) in file.validators.enumerated() {
            let field = "validators[\(index)]"
            try Self.checkName(entry.name, field: field)
            let key = try Self.key(entry.publicKey, field: field)
            guard entry.power > 0 else {
                throw GenesisError(.zeroPower, "\(field) (\(entry.name)) has zero voting power")
            }
            guard entry.power <= Limits.votingPowerMax else {
                throw GenesisError(.overLimit, "\(field) (\(entry.name)) power \(entry.power) exceeds \(Limits.votingPowerMax)")
            }
            validators.append(NamedValidator(name: entry.name, publicKey: key, power: entry.power))
        }
        self.validators = try Self.sortedUnique(validators, key: \.publicKey, list: "validators")
        do throws(FormatError) {
            validatorSet = try ValidatorSet(self.validators.map { Validator(publicKey: $0.publicKey, power: $0.power) })
        } catch {
            throw GenesisError(.overLimit, "genesis validators: \(error.message)")
        }

        let governance = file.governance
        guard !governance.keys.isEmpty, governance.keys.count <= Limits.governanceKeysMax else {
            throw GenesisError(
                .tooMany, "genesis governance must list 1 to \(Limits.governanceKeysMax) keys, got \(governance.keys.count)")
        }
        var governanceKeys: [PublicKey] = []
        for (index, text) in governance.keys.enumerated() {
            governanceKeys.append(try Self.key(text, field: "governance.keys[\(index)]"))
        }
        self.governanceKeys = try Self.sortedUnique(governanceKeys, key: \.self, list: "governance.keys")
        guard governance.threshold >= 1, Int(governance.threshold) <= governanceKeys.count else {
            throw GenesisError(
                .invalidThreshold,
                "governance threshold \(governance.threshold) must be between 1 and the number of keys (\(governanceKeys.count))")
        }
        governanceThreshold = governance.threshold

        guard file.organizations.count <= Limits.genesisOrganizationsMax else {
            throw GenesisError(
                .tooMany,
                "genesis lists \(file.organizations.count) organizations; the maximum is \(Limits.genesisOrganizationsMax)")
        }
        var organizations: [Organization] = []
        for (index, entry) in file.organizations.enumerated() {
            let field = "organizations[\(index)]"
            try Self.checkName(entry.name, field: field)
            let key = try Self.key(entry.publicKey, field: field)
            let roles = Array(Set(entry.roles)).sorted()
            guard !roles.isEmpty, roles.count == entry.roles.count else {
                throw GenesisError(.invalidRole, "\(field) (\(entry.name)) must list each role at most once, and at least one")
            }
            organizations.append(Organization(name: entry.name, publicKey: key, roles: roles))
        }
        self.organizations = try Self.sortedUnique(organizations, key: \.publicKey, list: "organizations")

        guard file.accounts.count <= Limits.genesisAccountsMax else {
            throw GenesisError(
                .tooMany, "genesis lists \(file.accounts.count) accounts; the maximum is \(Limits.genesisAccountsMax)")
        }
        var accounts: [Account] = []
        var credits: UInt64 = 0
        for (index, entry) in file.accounts.enumerated() {
            let key = try Self.key(entry.publicKey, field: "accounts[\(index)]")
            let (sum, overflow) = credits.addingReportingOverflow(entry.balance)
            guard !overflow, sum <= Limits.creditsTotalMax else {
                throw GenesisError(
                    .overLimit, "genesis credits exceed the total maximum \(Limits.creditsTotalMax) at accounts[\(index)]")
            }
            credits = sum
            accounts.append(Account(publicKey: key, balance: entry.balance))
        }
        self.accounts = try Self.sortedUnique(accounts, key: \.publicKey, list: "accounts")

        let parameters = file.parameters
        guard parameters.blockBytesMax >= 1024, parameters.blockBytesMax <= UInt32(Limits.blockBytesMax) else {
            throw GenesisError(
                .invalidParameter,
                "parameters.blockBytesMax \(parameters.blockBytesMax) must be between 1024 and \(Limits.blockBytesMax)")
        }
        guard parameters.blockTransactionsMax >= 1, parameters.blockTransactionsMax <= UInt32(Limits.blockTransactionsMax) else {
            throw GenesisError(
                .invalidParameter,
                "parameters.blockTransactionsMax \(parameters.blockTransactionsMax) must be between 1 and \(Limits.blockTransactionsMax)"
            )
        }
        self.parameters = parameters
    }

    /// The genesis hash: tagged SHA-256 of the canonical encoding. Block 1's previous
    /// block hash is this value, which binds the chain to its genesis file.
    public var hash: Hash { Hash.tagged(.hashGenesis, canonicalBytes) }

    /// The JSON file form, members in canonical order.
    public var file: File {
        File(
            formatVersion: formatVersion, chainID: chainID.value, genesisTimeMilliseconds: genesisTimeMilliseconds,
            validators: validators.map { ValidatorEntry(name: $0.name, publicKey: $0.publicKey.hex, power: $0.power) },
            governance: Governance(keys: governanceKeys.map(\.hex), threshold: governanceThreshold),
            organizations: organizations.map { OrganizationEntry(name: $0.name, publicKey: $0.publicKey.hex, roles: $0.roles) },
            accounts: accounts.map { AccountEntry(publicKey: $0.publicKey.hex, balance: $0.balance) },
            parameters: parameters)
    }

    /// Pretty-printed JSON with sorted keys, ending in a newline.
    public func jsonBytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of strings and integers cannot fail.
        let data = try! encoder.encode(file)
        return Array(data) + [UInt8(ascii: "\n")]
    }

    /// Writes the canonical encoding (docs/FORMAT.md §11).
    public func encode(to writer: inout ByteWriter) {
        writer.write(formatVersion)
        writer.write(chainID)
        writer.write(genesisTimeMilliseconds)
        writer.write(UInt16(validators.count))
        for validator in validators {
            writer.writeShortBytes(Array(validator.name.utf8))
            writer.write(validator.publicKey)
            writer.write(validator.power)
        }
        writer.write(UInt16(governanceKeys.count))
        for key in governanceKeys { writer.write(key) }
        writer.write(governanceThreshold)
        writer.write(UInt32(organizations.count))
        for organization in organizations {
            writer.writeShortBytes(Array(organization.name.utf8))
            writer.write(organization.publicKey)
            writer.write(organization.roles.reduce(UInt8(0)) { $0 | $1.bit })
        }
        writer.write(UInt32(accounts.count))
        for account in accounts {
            writer.write(account.publicKey)
            writer.write(account.balance)
        }
        writer.write(parameters.blockBytesMax)
        writer.write(parameters.blockTransactionsMax)
    }

    /// The members each JSON object of a genesis file may have; anything else is a typo or a
    /// field from another version, and silently ignoring it could hide a mistake.
    private static let allowedMembers: [String: Set<String>] = [
        "": [
            "formatVersion", "chainID", "genesisTimeMilliseconds", "validators", "governance", "organizations",
            "accounts", "parameters",
        ],
        "validators": ["name", "publicKey", "power"],
        "governance": ["keys", "threshold"],
        "organizations": ["name", "publicKey", "roles"],
        "accounts": ["publicKey", "balance"],
        "parameters": ["blockBytesMax", "blockTransactionsMax"],
    ]

    private static func rejectUnknownMembers(_ jsonBytes: [UInt8]) throws(GenesisError) {
        // Not JSON at all is reported by the typed decoder, with its position.
        guard let top = try? JSONSerialization.jsonObject(with: Data(jsonBytes)) as? [String: Any] else { return }
        func check(_ object: [String: Any], _ section: String) throws(GenesisError) {
            let allowed = allowedMembers[section] ?? []
            for member in object.keys.sorted() where !allowed.contains(member) {
                let place = section.isEmpty ? "the top level" : section
                throw GenesisError(.malformed, "genesis file: unknown member \"\(member)\" in \(place)")
            }
        }
        try check(top, "")
        for section in ["governance", "parameters"] {
            if let object = top[section] as? [String: Any] { try check(object, section) }
        }
        for section in ["validators", "organizations", "accounts"] {
            for case let object as [String: Any] in top[section] as? [Any] ?? [] { try check(object, section) }
        }
    }

    private static func key(_ text: String, field: String) throws(GenesisError) -> PublicKey {
        do throws(FormatError) { return try PublicKey(hex: text) } catch {
            throw GenesisError(.invalidKey, "\(field).publicKey: \(error.message)")
        }
    }

    private static func checkName(_ name: String, field: String) throws(GenesisError) {
        let length = name.utf8.count
        guard length >= 1, length <= Limits.nameBytesMax else {
            throw GenesisError(.invalidName, "\(field).name must be 1 to \(Limits.nameBytesMax) bytes, got \(length)")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw GenesisError(.invalidName, "\(field).name contains a control character")
        }
    }

    private static func sortedUnique<Element>(
        _ elements: [Element], key: KeyPath<Element, PublicKey>, list: String
    ) throws(GenesisError) -> [Element] {
        let sorted = elements.sorted { $0[keyPath: key] < $1[keyPath: key] }
        for index in sorted.indices.dropFirst() where sorted[index - 1][keyPath: key] == sorted[index][keyPath: key] {
            throw GenesisError(.duplicateKey, "\(list) lists key \(sorted[index][keyPath: key]) twice")
        }
        return sorted
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "top level" : String(text.drop(while: { $0 == "." }))
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(key.stringValue) at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context)): \(context.debugDescription)"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .dataCorrupted(let context): return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "\(error)"
        }
    }
}
