import SocaiCore
import SocaiCrypto

extension ValidatorNode {
    /// After resuming from the signer checkpoint, signs the identical last votes again (same
    /// bytes, same deterministic signature: not a second vote), sends it and feeds it back, so
    /// votes that died with the previous process (the last one, and with a precommit the prevote
    /// before it) still reach the network and is re-gossiped.
    /// Found by the simulation swarm (`socai sim`, docs/HARNESS.md): without it, a validator
    /// every quorum needs that crashes right after signing stalls its height for good.
    func resendLastVote() {
        guard let checkpoint = signerGuard.checkpoint else { return }
        for unsigned in signerGuard.lastVotes(validator: publicKey) where unsigned.height == checkpoint.height {
            var vote = unsigned
            vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: nodeKey)
            log("re-sending the \(vote.type) signed before the restart at \(vote.height)/\(vote.round)")
            do { try network.broadcast(NodeMessage.vote(vote).canonicalBytes) } catch { log("broadcast failed: \(error)") }
            feed(.vote(vote))
        }
    }
}
