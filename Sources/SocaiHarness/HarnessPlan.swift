/// One perturbation with its node and time fixed by the seed.
public struct PlannedFault: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Position in the manifest's schedule.
    public var index: Int
    /// What happens.
    public var kind: FaultKind
    /// The node, 1-based.
    public var node: Int
    /// When it starts, after the workload starts (time-triggered kinds).
    public var atMilliseconds: UInt64?
    /// How long it lasts.
    public var durationMilliseconds: UInt64?
    /// The height that triggers it (late, validatorChange).
    public var atHeight: UInt64?
    /// The new power (validatorChange).
    public var power: UInt64?

    /// One line for the printed plan.
    public var description: String {
        var text = "\(kind.rawValue) node\(node)"
        if let atMilliseconds { text += " at \(Double(atMilliseconds) / 1000) s" }
        if let durationMilliseconds { text += " for \(Double(durationMilliseconds) / 1000) s" }
        if let atHeight { text += " at height \(atHeight)" }
        if let power { text += " to power \(power)" }
        return text
    }
}

/// One workload transaction as planned: kind, time and actors; the nonce and therefore the
/// hash are fixed only when it is submitted.
public struct PlannedTransaction: Sendable, Codable, Equatable {
    /// Position in the workload.
    public var index: Int
    /// When it is submitted, after the workload starts.
    public var atMilliseconds: UInt64
    /// Its kind.
    public var kind: WorkloadKind
    /// The citizen (DID and consent kinds) or organization (access: provider, order: consumer) that signs it.
    public var signer: Int
    /// The provider organization (consents).
    public var provider: Int?
    /// The consumer organization (consents).
    public var consumer: Int?
    /// The planned transaction it builds on (the DID creation, the consent), which must be acknowledged first.
    public var dependsOn: Int?
}

/// What a seed makes of a manifest: every fault's node and time and every transaction. The
/// same manifest and seed always give the same plan.
public struct HarnessPlan: Sendable, Equatable {
    /// Provider organizations registered at genesis.
    public static let providersCount = 2
    /// Consumer organizations registered (and funded) at genesis.
    public static let consumersCount = 2
    /// Most transactions one run plans.
    public static let transactionsMax = 100_000

    /// The manifest's name.
    public let manifestName: String
    /// The seed.
    public let seed: UInt64
    /// The faults, in schedule order.
    public let faults: [PlannedFault]
    /// The transactions, in submission order.
    public let transactions: [PlannedTransaction]
    /// Citizens the workload creates.
    public let citizensCount: Int

    /// Draws the plan of `manifest` for `seed`.
    public init(manifest: HarnessManifest, seed: UInt64) {
        manifestName = manifest.name
        self.seed = seed
        var random = SimulationRandom(seed: seed ^ 0x4a52_4e45_5353_0001)
        let validatorCount = manifest.powers.count
        let named = Set(manifest.faults.compactMap(\.node))
        var faults: [PlannedFault] = []
        for (index, fault) in manifest.faults.enumerated() {
            let node: Int
            if let chosen = fault.node {
                node = chosen
            } else {
                // A node no other fault names, so faults the manifest keeps apart stay apart.
                let free = (1...validatorCount).filter { !named.contains($0) }
                node = free.isEmpty ? Int(random.between(1, UInt64(validatorCount))) : random.pick(free)
            }
            var atMilliseconds = fault.atSeconds.map { UInt64($0 * 1000) }
            if let jitter = fault.jitterSeconds, jitter > 0, atMilliseconds != nil {
                atMilliseconds! += random.below(UInt64(jitter * 1000) + 1)
            }
            faults.append(
                PlannedFault(
                    index: index, kind: fault.kind, node: node, atMilliseconds: atMilliseconds,
                    durationMilliseconds: fault.durationSeconds.map { UInt64($0 * 1000) }, atHeight: fault.atHeight,
                    power: fault.power))
        }
        self.faults = faults

        let workload = manifest.workload
        let count = min(Self.transactionsMax, Int(workload.ratePerSecond * workload.durationSeconds))
        let weighted = WorkloadKind.allCases.filter { (workload.mix[$0] ?? 0) > 0 }
        let totalWeight = weighted.reduce(UInt64(0)) { $0 + UInt64(workload.mix[$1]!) }
        var transactions: [PlannedTransaction] = []
        var createdCitizens: [(citizen: Int, transaction: Int)] = []
        var grants: [(transaction: Int, provider: Int)] = []
        var citizens = 0
        for index in 0..<count {
            var draw = random.below(max(totalWeight, 1))
            var kind = weighted.first ?? .didCreate
            for candidate in weighted {
                let weight = UInt64(workload.mix[candidate]!)
                if draw < weight {
                    kind = candidate
                    break
                }
                draw -= weight
            }
            // A kind that needs something not yet planned falls back to what it needs.
            if kind == .accessRecord, grants.isEmpty { kind = .consentGrant }
            if kind == .didUpdate || kind == .consentGrant, createdCitizens.isEmpty { kind = .didCreate }
            let atMilliseconds = UInt64(Double(index) * 1000 / workload.ratePerSecond)
            var planned = PlannedTransaction(index: index, atMilliseconds: atMilliseconds, kind: kind, signer: 0)
            switch kind {
            case .didCreate:
                planned.signer = citizens
                createdCitizens.append((citizens, index))
                citizens += 1
            case .didUpdate:
                let created = random.pick(createdCitizens)
                planned.signer = created.citizen
                planned.dependsOn = created.transaction
            case .consentGrant:
                let created = random.pick(createdCitizens)
                planned.signer = created.citizen
                planned.dependsOn = created.transaction
                planned.provider = Int(random.below(UInt64(Self.providersCount)))
                planned.consumer = Int(random.below(UInt64(Self.consumersCount)))
                grants.append((index, planned.provider!))
            case .accessRecord:
                let grant = random.pick(grants)
                planned.signer = grant.provider
                planned.dependsOn = grant.transaction
            case .orderPlace:
                planned.signer = Int(random.below(UInt64(Self.consumersCount)))
            }
            transactions.append(planned)
        }
        self.transactions = transactions
        citizensCount = citizens
    }

    /// The plan as printed before a run.
    public var lines: [String] {
        var lines = ["plan of \(manifestName) for seed \(seed):"]
        if faults.isEmpty { lines.append("  no faults") }
        for fault in faults { lines.append("  fault \(fault.index + 1): \(fault)") }
        var counts: [WorkloadKind: Int] = [:]
        for transaction in transactions { counts[transaction.kind, default: 0] += 1 }
        let mix = WorkloadKind.allCases.compactMap { kind in counts[kind].map { "\(kind.rawValue) \($0)" } }
        lines.append("  workload: \(transactions.count) transactions (\(mix.joined(separator: ", "))), \(citizensCount) citizens")
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for transaction in transactions {
            for value in [
                UInt64(transaction.index), transaction.atMilliseconds, UInt64(transaction.signer),
                UInt64(WorkloadKind.allCases.firstIndex(of: transaction.kind)!), UInt64(transaction.dependsOn ?? 0),
            ] {
                digest = (digest ^ value) &* 0x100_0000_01b3
            }
        }
        lines.append("  workload digest: \(String(digest, radix: 16))")
        return lines
    }
}
