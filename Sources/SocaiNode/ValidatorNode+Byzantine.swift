import Foundation
import SocaiCore
import SocaiCrypto

/// The harness's Byzantine validator (test-only): besides every vote its machine asks for, it
/// signs and broadcasts a conflicting twin for another value, bypassing the signer guard for
/// that twin only. Honest validators must detect the pair, gossip the evidence and commit it.
extension ValidatorNode {
    /// The environment variable that must be "1" for a configuration's `byzantine` mode to run.
    public static let allowByzantineEnvironmentVariable = "SOCAI_ALLOW_BYZANTINE"
    /// The one Byzantine mode.
    public static let equivocateMode = "equivocate"

    /// Throws unless `configuration.byzantine` is absent, or is a known mode and explicitly
    /// allowed by the environment; logs loudly when a Byzantine mode is on.
    static func checkByzantineMode(_ configuration: NodeConfiguration, log: @Sendable (String) -> Void) throws(NodeError) {
        guard let mode = configuration.byzantine else { return }
        guard mode == equivocateMode else {
            throw NodeError(.invalid, "config byzantine \"\(mode)\" is unknown (the only test mode is \"\(equivocateMode)\")")
        }
        guard ProcessInfo.processInfo.environment[allowByzantineEnvironmentVariable] == "1" else {
            throw NodeError(
                .invalid, "config byzantine is a test-only mode; refusing to run without \(allowByzantineEnvironmentVariable)=1")
        }
        log("WARNING: BYZANTINE TEST MODE \"\(mode)\": this validator signs conflicting votes on purpose")
    }

    /// Whether this validator equivocates (the harness's `byzantine` fault).
    var isEquivocating: Bool { home.configuration.byzantine == Self.equivocateMode }

    /// Signs and broadcasts a twin of `vote` for another value: nil for a block, a phantom
    /// block for nil.
    func equivocate(after vote: Vote) {
        var twin = vote
        twin.blockID =
            vote.blockID == nil ? Hash.sha256(Array("socai-byzantine-twin-\(vote.height)-\(vote.round)".utf8)) : nil
        twin.signature = Signature(signing: twin.signingBytes(chainID: chainID), with: nodeKey)
        do { try network.broadcast(NodeMessage.vote(twin).canonicalBytes) } catch { log("twin broadcast failed: \(error)") }
    }
}
