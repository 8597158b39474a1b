import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiState

@Suite struct GovernanceTests {
    func approve(_ ledger: LedgerFixture, _ action: GovernanceAction, sequence: UInt64, by keys: [SigningKey])
        -> [GovernanceApproval]
    {
        keys.map { Governance.approve(chainID: LedgerFixture.chainID, sequence: sequence, action: action, key: $0) }
    }

    @Test func registersSuspendsAndReinstatesOrganizations() throws {
        let ledger = LedgerFixture()
        try ledger.createCitizens()
        let newOrg = ledger.citizen2DID
        let register = GovernanceAction.registerOrganization(did: newOrg, name: "Hospital", roles: [.provider, .consumer])
        #expect(try ledger.run(Governance(sequence: 1, action: register), by: ledger.governanceKeys[0]).code == .ok)
        let record = try #require(ledger.record(OrganizationRecord.self, StateKey.organization(newOrg)))
        #expect(record.roles == [.provider, .consumer])
        #expect(
            try ledger.run(Governance(sequence: 2, action: register), by: ledger.governanceKeys[0]).code == .organizationExists)
        #expect(
            try ledger.run(Governance(sequence: 2, action: .suspendOrganization(did: newOrg)), by: ledger.governanceKeys[1]).code
                == .ok)
        #expect(ledger.record(OrganizationRecord.self, StateKey.organization(newOrg))?.suspended == true)
        #expect(
            try ledger.run(Governance(sequence: 3, action: .reinstateOrganization(did: newOrg)), by: ledger.governanceKeys[2])
                .code == .ok)
        #expect(ledger.record(OrganizationRecord.self, StateKey.organization(newOrg))?.suspended == false)
        let unknown = DID(initialKey: PublicKey(of: LedgerFixture.key("nobody")))
        #expect(
            try ledger.run(
                Governance(sequence: 4, action: .registerOrganization(did: unknown, name: "X", roles: [.consumer])),
                by: ledger.governanceKeys[0]
            )
            .code == .didNotFound)
        // Failed actions do not advance the sequence.
        #expect(ledger.record(GovernanceRecord.self, StateKey.governance)?.sequence == 3)
    }

    @Test func requiresMOfNDistinctValidApprovals() throws {
        let ledger = LedgerFixture(governanceThreshold: 2)
        let action = GovernanceAction.setParameters(blockBytesMax: 1 << 20, blockTransactionsMax: 500)
        let keys = ledger.governanceKeys
        #expect(try ledger.run(Governance(sequence: 1, action: action), by: keys[0]).code == .insufficientApprovals)
        // The signer approving itself again does not count twice.
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, action, sequence: 1, by: [keys[0]])),
                by: keys[0]
            ).code
                == .insufficientApprovals)
        // An approval for another sequence number, or by a stranger, is invalid.
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, action, sequence: 2, by: [keys[1]])),
                by: keys[0]
            ).code
                == .invalidApproval)
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, action, sequence: 1, by: [ledger.citizen])),
                by: keys[0]
            ).code == .invalidApproval)
        // An approval of another action does not carry over.
        let other = GovernanceAction.setParameters(blockBytesMax: 2048, blockTransactionsMax: 1)
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, other, sequence: 1, by: [keys[1]])),
                by: keys[0]
            ).code
                == .invalidApproval)
        #expect(try ledger.run(Governance(sequence: 1, action: action), by: ledger.citizen).code == .notGovernanceKey)
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, action, sequence: 1, by: [keys[2]])),
                by: keys[0]
            ).code
                == .ok)
        #expect(ledger.record(ParametersRecord.self, StateKey.parameters)?.blockTransactionsMax == 500)
        // The same approvals cannot be replayed: the sequence moved on.
        #expect(
            try ledger.run(
                Governance(sequence: 1, action: action, approvals: approve(ledger, action, sequence: 1, by: [keys[2]])),
                by: keys[1]
            ).code
                == .wrongGovernanceSequence)
    }

    @Test func validatorChangesTakeEffectTwoHeightsLater() throws {
        let ledger = LedgerFixture()
        let newValidator = LedgerFixture.key("validator 5")
        let genesisSet = ledger.genesis.validatorSet
        let add = GovernanceAction.setValidatorPower(publicKey: PublicKey(of: newValidator), power: 7)
        let decided = try ledger.block([ledger.transaction(Governance(sequence: 1, action: add), by: ledger.governanceKeys[0])])
        #expect(decided.outcomes[0].code == .ok)
        #expect(decided.validatorSet == genesisSet)  // height 1
        #expect(try ledger.block([]).validatorSet == genesisSet)  // height 2
        let effective = try ledger.block([])  // height 3 = 1 + 2
        #expect(effective.validatorSet.validators.count == 5)
        #expect(effective.validatorSet.validator(for: PublicKey(of: newValidator))?.power == 7)
        #expect(try ledger.executor.validatorSet(forHeight: 4, on: ledger.backend) == effective.validatorSet)

        // Removing a validator that is not one, or every validator, is refused.
        let stranger = GovernanceAction.setValidatorPower(publicKey: PublicKey(of: LedgerFixture.key("stranger")), power: 0)
        #expect(
            try ledger.run(Governance(sequence: 2, action: stranger), by: ledger.governanceKeys[0]).code
                == .invalidValidatorChange)
        var sequence: UInt64 = 2
        var codes: [TransactionResultCode] = []
        for validator in effective.validatorSet.validators {
            codes.append(
                try ledger.run(
                    Governance(sequence: sequence, action: .setValidatorPower(publicKey: validator.publicKey, power: 0)),
                    by: ledger.governanceKeys[0]
                ).code)
            if codes.last == .ok { sequence += 1 }
        }
        #expect(codes == [.ok, .ok, .ok, .ok, .invalidValidatorChange])
    }

    @Test func rejectsParametersOutsideTheHardLimits() throws {
        let ledger = LedgerFixture()
        let action = GovernanceAction.setParameters(blockBytesMax: 10, blockTransactionsMax: 10)
        #expect(try ledger.run(Governance(sequence: 1, action: action), by: ledger.governanceKeys[0]).code == .invalidParameters)
    }
}
