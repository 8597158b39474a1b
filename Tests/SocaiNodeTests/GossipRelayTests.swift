import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNode

/// When a validator relays the transactions its peers send it: only when it is not directly
/// linked to every other validator, since otherwise each transaction's first node already
/// sent it to all of them.
@Suite struct GossipRelayTests {
    let keys = (1...5).map { PublicKey(of: try! SigningKey(seed: SHA256.hash(Array("relay \($0)".utf8)))) }

    func set(_ members: ArraySlice<PublicKey>) throws -> ValidatorSet {
        try ValidatorSet(members.map { Validator(publicKey: $0, power: 1) })
    }

    @Test func aValidatorLinkedToEveryOtherDoesNotRelay() throws {
        let validators = try set(keys[0..<4])
        #expect(!ValidatorNode.relaysPeerTransactions(peers: Set(keys[1..<4]), validators: validators, own: keys[0]))
        // A peer that is not a validator changes nothing.
        #expect(!ValidatorNode.relaysPeerTransactions(peers: Set(keys[1..<5]), validators: validators, own: keys[0]))
        // Alone in its set, a validator has no one to relay to.
        #expect(!ValidatorNode.relaysPeerTransactions(peers: [], validators: try set(keys[0..<1]), own: keys[0]))
    }

    @Test func aValidatorMissingALinkToAnyOtherRelays() throws {
        let validators = try set(keys[0..<4])
        for missing in 1..<4 {
            let peers = Set(keys[1..<4]).subtracting([keys[missing]])
            #expect(ValidatorNode.relaysPeerTransactions(peers: peers, validators: validators, own: keys[0]))
        }
        // A validator joins the set by governance and is not yet among the peers: relaying resumes.
        #expect(ValidatorNode.relaysPeerTransactions(peers: Set(keys[1..<4]), validators: try set(keys[0..<5]), own: keys[0]))
    }

    @Test func aNodeOutsideTheSetRelaysUnlessLinkedToEveryValidator() throws {
        let validators = try set(keys[0..<4])
        #expect(!ValidatorNode.relaysPeerTransactions(peers: Set(keys[0..<4]), validators: validators, own: keys[4]))
        #expect(ValidatorNode.relaysPeerTransactions(peers: Set(keys[0..<3]), validators: validators, own: keys[4]))
    }
}
