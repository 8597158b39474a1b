import Foundation
import SocaiHarness
import Testing

/// Manifests are strict, and a seed fixes the plan.
@Suite struct ManifestTests {
    static let minimal = """
        {"name": "t", "powers": [10, 10, 10, 10],
         "workload": {"ratePerSecond": 2, "durationSeconds": 10, "mix": {"didCreate": 1, "consentGrant": 1, "accessRecord": 1}},
         "faults": [{"kind": "kill", "atSeconds": 2, "jitterSeconds": 3, "durationSeconds": 2},
                    {"kind": "pause", "atSeconds": 5, "durationSeconds": 1}]}
        """

    static func parse(_ text: String) throws(ManifestError) -> HarnessManifest {
        try HarnessManifest.parse(Data(text.utf8))
    }

    static func error(_ text: String) -> ManifestError? {
        do {
            _ = try parse(text)
            return nil
        } catch { return error }
    }

    @Test func aMinimalManifestParsesWithDefaults() throws {
        let manifest = try Self.parse(Self.minimal)
        #expect(manifest.powers == [10, 10, 10, 10])
        #expect(manifest.workload.concurrency == 16)
        #expect(manifest.livenessBoundSeconds == 30)
        #expect(manifest.faults.map(\.kind) == [.kill, .pause])
    }

    @Test func unknownKeysAreErrorsNamingTheField() {
        let typo = Self.minimal.replacingOccurrences(of: "\"durationSeconds\": 2}", with: "\"duration\": 2}")
        #expect(Self.error(typo)?.code == .unknownKey)
        #expect(Self.error(typo)?.message.contains("manifest.faults[0].duration") == true)
        let topLevel = Self.minimal.replacingOccurrences(of: "{\"name\"", with: "{\"extra\": 1, \"name\"")
        #expect(Self.error(topLevel)?.code == .unknownKey)
    }

    @Test func outOfRangeAndMissingValuesAreErrors() {
        #expect(Self.error(Self.minimal.replacingOccurrences(of: "[10, 10, 10, 10]", with: "[]"))?.code == .invalidValue)
        #expect(
            Self.error(Self.minimal.replacingOccurrences(of: "\"ratePerSecond\": 2", with: "\"ratePerSecond\": 5000"))?.code
                == .invalidValue)
        #expect(
            Self.error(Self.minimal.replacingOccurrences(of: "\"kind\": \"kill\"", with: "\"kind\": \"explode\""))?.code
                == .invalidValue)
        let noDuration = Self.minimal.replacingOccurrences(of: ", \"durationSeconds\": 1}", with: "}")
        #expect(Self.error(noDuration)?.code == .missingKey)
        let nodeTooHigh = Self.minimal.replacingOccurrences(
            of: "{\"kind\": \"pause\",", with: "{\"kind\": \"pause\", \"node\": 5,")
        #expect(Self.error(nodeTooHigh)?.code == .invalidValue)
        #expect(Self.error("[1, 2]")?.code == .malformed)
    }

    @Test func aByzantineNodeWithAThirdOfThePowerIsRefused() {
        let heavy = Self.minimal.replacingOccurrences(of: "[10, 10, 10, 10]", with: "[10, 10, 20, 10]")
            .replacingOccurrences(of: "\"faults\": [", with: "\"faults\": [{\"kind\": \"byzantine\", \"node\": 3},")
        #expect(Self.error(heavy)?.code == .invalidValue)
    }

    @Test func theSameSeedGivesTheSamePlanAndAnotherSeedAnother() throws {
        let manifest = try Self.parse(Self.minimal)
        let first = HarnessPlan(manifest: manifest, seed: 7)
        #expect(first == HarnessPlan(manifest: manifest, seed: 7))
        #expect(first.transactions.count == 20)
        #expect(first.transactions.first?.kind == .didCreate)
        // Every transaction that builds on another comes after it.
        for transaction in first.transactions {
            if let dependency = transaction.dependsOn { #expect(dependency < transaction.index) }
        }
        let others = (8..<16).map { HarnessPlan(manifest: manifest, seed: $0) }
        #expect(others.contains { $0.faults != first.faults || $0.transactions != first.transactions })
        // The kill's node is one no other fault names... none are named, so any; the jitter stays within bounds.
        for plan in others + [first] {
            #expect((2_000...5_000).contains(plan.faults[0].atMilliseconds ?? 0))
        }
    }

    @Test func everyShippedManifestParses() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Nodes/manifests")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(
            names == ["byzantine.json", "catchup.json", "crash.json", "partition.json", "smoke.json", "validator-change.json"])
        for name in names {
            let manifest = try HarnessManifest.load(path: directory.appendingPathComponent(name).path)
            #expect(manifest.name + ".json" == name)
        }
    }
}
