import Foundation

/// Why a manifest could not be used.
public struct ManifestError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// The file could not be read.
        case unreadable
        /// Not a JSON object.
        case malformed
        /// A key the format does not define (a typo would otherwise be silently ignored).
        case unknownKey
        /// A required key is absent.
        case missingKey
        /// A value has the wrong type or is out of its stated range.
        case invalidValue
    }

    /// The kind of failure.
    public let code: Code
    /// The field path and the problem.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// The kinds of transaction the harness workload submits.
public enum WorkloadKind: String, Sendable, CaseIterable, Codable, Comparable {
    /// A citizen creates its DID.
    case didCreate
    /// A citizen adds a service to its DID document.
    case didUpdate
    /// A citizen grants a consumer organization consent.
    case consentGrant
    /// A provider records an access under a consent.
    case accessRecord
    /// A consumer organization places a market order for the run's offer.
    case orderPlace

    /// Declaration order.
    public static func < (left: WorkloadKind, right: WorkloadKind) -> Bool {
        allCases.firstIndex(of: left)! < allCases.firstIndex(of: right)!
    }
}

/// The kinds of scheduled perturbation.
public enum FaultKind: String, Sendable, CaseIterable, Codable {
    /// SIGKILL, then a restart after `durationSeconds`.
    case kill
    /// SIGSTOP, then SIGCONT after `durationSeconds`.
    case pause
    /// SIGTERM (graceful stop), then a restart.
    case restart
    /// The node's peer links (through harness-owned proxies) are cut for `durationSeconds`.
    case disconnect
    /// The node runs the whole time in the test-only equivocating mode.
    case byzantine
    /// The node starts only once the others reach `atHeight`, and must block-sync.
    case late
    /// A governance transaction sets the node's voting power to `power` once the chain reaches `atHeight`.
    case validatorChange
}

/// One perturbation of the schedule.
public struct FaultSpecification: Sendable, Equatable {
    /// What happens.
    public var kind: FaultKind
    /// The node (1-based); nil lets the seed choose a node that no other fault names.
    public var node: Int?
    /// When it starts, seconds after the workload starts (kill, pause, restart, disconnect).
    public var atSeconds: Double?
    /// Up to this many seconds the seed adds to `atSeconds`.
    public var jitterSeconds: Double?
    /// How long the fault lasts (kill, pause, disconnect).
    public var durationSeconds: Double?
    /// The height that triggers it (late, validatorChange).
    public var atHeight: UInt64?
    /// The new voting power (validatorChange).
    public var power: UInt64?
}

/// The transactions a run submits.
public struct WorkloadSpecification: Sendable, Equatable {
    /// Transactions per second, spread evenly.
    public var ratePerSecond: Double
    /// How long the workload runs.
    public var durationSeconds: Double
    /// Relative weight of each kind (absent kinds are not submitted).
    public var mix: [WorkloadKind: UInt32]
    /// Most transactions in flight at once.
    public var concurrency: Int
}

/// A harness manifest (`Nodes/manifests/*.json`, format in docs/HARNESS.md).
public struct HarnessManifest: Sendable, Equatable {
    /// Most validators.
    public static let validatorsMax = 16
    /// Largest voting power.
    public static let powerMax: UInt64 = 1_000_000
    /// Most faults in a schedule.
    public static let faultsMax = 64
    /// Longest workload, and latest fault start, in seconds.
    public static let secondsMax: Double = 3_600
    /// Longest fault, in seconds.
    public static let faultSecondsMax: Double = 600
    /// Highest transactions per second.
    public static let rateMax: Double = 200
    /// Most transactions in flight.
    public static let concurrencyMax = 64
    /// Highest trigger height.
    public static let heightMax: UInt64 = 100_000
    /// Largest manifest file, in bytes.
    public static let fileBytesMax = 1 << 20

    /// The manifest's name (reports, run directory).
    public var name: String
    /// What it demonstrates.
    public var description: String
    /// Each validator's voting power, node1 first.
    public var powers: [UInt64]
    /// The transactions.
    public var workload: WorkloadSpecification
    /// The perturbations.
    public var faults: [FaultSpecification]
    /// After each fault heals, the chain must advance (and the healed node catch up) within this many seconds.
    public var livenessBoundSeconds: Double
    /// How long the network may take to commit its first blocks.
    public var startTimeoutSeconds: Double

    /// Reads and validates a manifest file.
    public static func load(path: String) throws(ManifestError) -> HarnessManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(.unreadable, "cannot read manifest \(path)")
        }
        guard data.count <= fileBytesMax else {
            throw ManifestError(.malformed, "manifest \(path) is over \(fileBytesMax) bytes")
        }
        return try parse(data)
    }

    /// Parses and validates manifest JSON: unknown keys, missing keys, wrong types and values
    /// out of range are errors naming the field.
    public static func parse(_ data: Data) throws(ManifestError) -> HarnessManifest {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ManifestError(.malformed, "manifest is not JSON: \(error.localizedDescription)")
        }
        var root = try Fields(object, path: "manifest")
        let name = try root.string("name")
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw ManifestError(.invalidValue, "manifest.name must be 1 to 64 letters, digits and '-'")
        }
        let description = try root.optionalString("description") ?? ""
        let powerValues = try root.array("powers")
        guard (1...validatorsMax).contains(powerValues.count) else {
            throw ManifestError(.invalidValue, "manifest.powers must list 1 to \(validatorsMax) validators")
        }
        let powers = try powerValues.enumerated().map { index, value throws(ManifestError) in
            try Fields.integer(value, path: "manifest.powers[\(index)]", range: 1...powerMax)
        }
        var workloadFields = try Fields(root.value("workload"), path: "manifest.workload")
        let rate = try workloadFields.number("ratePerSecond", range: 0...rateMax)
        let duration = try workloadFields.number("durationSeconds", range: 1...secondsMax)
        let concurrency = Int(try workloadFields.optionalInteger("concurrency", range: 1...UInt64(concurrencyMax)) ?? 16)
        var mixFields = try Fields(workloadFields.value("mix"), path: "manifest.workload.mix")
        var mix: [WorkloadKind: UInt32] = [:]
        for kind in WorkloadKind.allCases {
            if let weight = try mixFields.optionalInteger(kind.rawValue, range: 0...1_000) { mix[kind] = UInt32(weight) }
        }
        try mixFields.finish()
        guard rate == 0 || mix.values.contains(where: { $0 > 0 }) else {
            throw ManifestError(.invalidValue, "manifest.workload.mix must give some kind a weight above 0")
        }
        try workloadFields.finish()
        let faultValues = try root.optionalArray("faults") ?? []
        guard faultValues.count <= faultsMax else {
            throw ManifestError(.invalidValue, "manifest.faults holds at most \(faultsMax) faults")
        }
        var faults: [FaultSpecification] = []
        for (index, value) in faultValues.enumerated() {
            faults.append(try parseFault(value, path: "manifest.faults[\(index)]", validatorCount: powers.count))
        }
        let liveness = try root.optionalNumber("livenessBoundSeconds", range: 1...faultSecondsMax) ?? 30
        let startTimeout = try root.optionalNumber("startTimeoutSeconds", range: 1...faultSecondsMax) ?? 60
        try root.finish()
        let manifest = HarnessManifest(
            name: name, description: description, powers: powers,
            workload: WorkloadSpecification(ratePerSecond: rate, durationSeconds: duration, mix: mix, concurrency: concurrency),
            faults: faults, livenessBoundSeconds: liveness, startTimeoutSeconds: startTimeout)
        try manifest.validateSchedule()
        return manifest
    }

    private static func parseFault(_ value: Any, path: String, validatorCount: Int) throws(ManifestError) -> FaultSpecification {
        var fields = try Fields(value, path: path)
        let kindName = try fields.string("kind")
        guard let kind = FaultKind(rawValue: kindName) else {
            throw ManifestError(
                .invalidValue,
                "\(path).kind \"\(kindName)\" is not one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var fault = FaultSpecification(kind: kind)
        fault.node = try fields.optionalInteger("node", range: 1...UInt64(validatorCount)).map(Int.init)
        fault.atSeconds = try fields.optionalNumber("atSeconds", range: 0...secondsMax)
        fault.jitterSeconds = try fields.optionalNumber("jitterSeconds", range: 0...secondsMax)
        fault.durationSeconds = try fields.optionalNumber("durationSeconds", range: 0.1...faultSecondsMax)
        fault.atHeight = try fields.optionalInteger("atHeight", range: 1...heightMax)
        fault.power = try fields.optionalInteger("power", range: 0...powerMax)
        try fields.finish()
        func require(_ present: Bool, _ key: String) throws(ManifestError) {
            guard present else { throw ManifestError(.missingKey, "\(path): a \(kind.rawValue) fault needs \(key)") }
        }
        func forbid(_ present: Bool, _ key: String) throws(ManifestError) {
            guard !present else { throw ManifestError(.invalidValue, "\(path): a \(kind.rawValue) fault takes no \(key)") }
        }
        switch kind {
        case .kill, .pause, .disconnect:
            try require(fault.atSeconds != nil, "atSeconds")
            try require(fault.durationSeconds != nil, "durationSeconds")
            try forbid(fault.atHeight != nil, "atHeight")
            try forbid(fault.power != nil, "power")
        case .restart:
            try require(fault.atSeconds != nil, "atSeconds")
            try forbid(fault.durationSeconds != nil, "durationSeconds")
            try forbid(fault.atHeight != nil, "atHeight")
            try forbid(fault.power != nil, "power")
        case .byzantine:
            for (present, key) in [
                (fault.atSeconds != nil, "atSeconds"), (fault.durationSeconds != nil, "durationSeconds"),
                (fault.atHeight != nil, "atHeight"), (fault.power != nil, "power"), (fault.jitterSeconds != nil, "jitterSeconds"),
            ] {
                try forbid(present, key)
            }
        case .late:
            try require(fault.atHeight != nil, "atHeight")
            try forbid(fault.atSeconds != nil, "atSeconds")
            try forbid(fault.durationSeconds != nil, "durationSeconds")
            try forbid(fault.power != nil, "power")
        case .validatorChange:
            try require(fault.atHeight != nil, "atHeight")
            try require(fault.power != nil, "power")
            try forbid(fault.atSeconds != nil, "atSeconds")
            try forbid(fault.durationSeconds != nil, "durationSeconds")
        }
        return fault
    }

    /// Checks what only the whole schedule shows: fewer than a third of the power may be
    /// Byzantine, and at most one node may be Byzantine or late.
    func validateSchedule() throws(ManifestError) {
        let total = powers.reduce(0, +)
        let byzantine = faults.filter { $0.kind == .byzantine }
        guard byzantine.count <= 1 else { throw ManifestError(.invalidValue, "manifest.faults: at most one byzantine node") }
        if let node = byzantine.first?.node, powers[node - 1] * 3 >= total {
            throw ManifestError(
                .invalidValue,
                "manifest.faults: byzantine node \(node) holds a third of the power or more; safety is not promised")
        }
        guard faults.filter({ $0.kind == .late }).count <= 1 else {
            throw ManifestError(.invalidValue, "manifest.faults: at most one late node")
        }
    }
}

/// Typed access to a JSON object's fields, remembering which were read so that `finish`
/// can reject every key the format does not define.
struct Fields {
    let object: [String: Any]
    let path: String
    private var read: Set<String> = []

    init(_ value: Any, path: String) throws(ManifestError) {
        guard let object = value as? [String: Any] else { throw ManifestError(.malformed, "\(path) must be a JSON object") }
        self.object = object
        self.path = path
    }

    mutating func value(_ key: String) throws(ManifestError) -> Any {
        read.insert(key)
        guard let value = object[key], !(value is NSNull) else { throw ManifestError(.missingKey, "\(path).\(key) is required") }
        return value
    }

    mutating func optionalValue(_ key: String) -> Any? {
        read.insert(key)
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    mutating func string(_ key: String) throws(ManifestError) -> String {
        guard let text = try value(key) as? String else { throw ManifestError(.invalidValue, "\(path).\(key) must be a string") }
        return text
    }

    mutating func optionalString(_ key: String) throws(ManifestError) -> String? {
        guard let value = optionalValue(key) else { return nil }
        guard let text = value as? String, text.count <= 1_000 else {
            throw ManifestError(.invalidValue, "\(path).\(key) must be a string of at most 1000 characters")
        }
        return text
    }

    mutating func array(_ key: String) throws(ManifestError) -> [Any] {
        guard let list = try value(key) as? [Any] else { throw ManifestError(.invalidValue, "\(path).\(key) must be a list") }
        return list
    }

    mutating func optionalArray(_ key: String) throws(ManifestError) -> [Any]? {
        guard let value = optionalValue(key) else { return nil }
        guard let list = value as? [Any] else { throw ManifestError(.invalidValue, "\(path).\(key) must be a list") }
        return list
    }

    mutating func number(_ key: String, range: ClosedRange<Double>) throws(ManifestError) -> Double {
        try Self.number(try value(key), path: "\(path).\(key)", range: range)
    }

    mutating func optionalNumber(_ key: String, range: ClosedRange<Double>) throws(ManifestError) -> Double? {
        guard let value = optionalValue(key) else { return nil }
        return try Self.number(value, path: "\(path).\(key)", range: range)
    }

    mutating func optionalInteger(_ key: String, range: ClosedRange<UInt64>) throws(ManifestError) -> UInt64? {
        guard let value = optionalValue(key) else { return nil }
        return try Self.integer(value, path: "\(path).\(key)", range: range)
    }

    static func number(_ value: Any, path: String, range: ClosedRange<Double>) throws(ManifestError) -> Double {
        guard let number = value as? NSNumber, range.contains(number.doubleValue)
        else {
            throw ManifestError(.invalidValue, "\(path) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number.doubleValue
    }

    static func integer(_ value: Any, path: String, range: ClosedRange<UInt64>) throws(ManifestError) -> UInt64 {
        let number = try number(value, path: path, range: Double(range.lowerBound)...Double(range.upperBound))
        guard number == number.rounded() else {
            throw ManifestError(.invalidValue, "\(path) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return UInt64(number)
    }

    /// Throws for the first key (in sorted order) that was never read.
    func finish() throws(ManifestError) {
        if let unknown = object.keys.sorted().first(where: { !read.contains($0) }) {
            throw ManifestError(.unknownKey, "\(path).\(unknown) is not a manifest field")
        }
    }
}
