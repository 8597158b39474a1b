import SocaiCore

/// The rules of every transaction kind. Each rule reads through the overlay, throws a
/// `RuleViolation` naming the broken rule, and writes only when every check has passed.
struct LedgerRules {
    let context: TransactionContext
    let state: StateOverlay

    func apply() throws {
        guard let kind = TransactionKind(rawValue: context.envelope.kind) else {
            throw RuleViolation(.unknownKind, "transaction kind \(context.envelope.kind) is unknown")
        }
        switch kind {
        case .didCreate: try didCreate(decode())
        case .didUpdate: try didUpdate(decode())
        case .didDeactivate: try didDeactivate(decode())
        case .governance: try governance(decode())
        case .consentRequest: try consentRequest(decode())
        case .consentGrant: try consentGrant(decode())
        case .consentRevoke: try consentRevoke(decode())
        case .accessRecord: try accessRecord(decode())
        case .transfer: try transfer(decode())
        case .offerCreate: try offerCreate(decode())
        case .offerClose: try offerClose(decode())
        case .orderPlace: try orderPlace(decode())
        case .orderDeliver: try orderDeliver(decode())
        case .orderConfirm: try orderConfirm(decode())
        case .orderRefund: try orderRefund(decode())
        }
    }

    private func decode<Payload: LedgerPayload>() throws -> Payload {
        do throws(FormatError) { return try Payload(canonicalBytes: context.envelope.payload) } catch {
            throw RuleViolation(.malformedPayload, "\(Payload.kind.name) payload: \(error.message)")
        }
    }

    // MARK: Actors

    /// The DID, which must exist, be active and list the signer as an authentication key.
    private func actor(_ did: DID) throws -> DIDRecord {
        guard let record = try state.record(DIDRecord.self, StateKey.did(did)) else {
            throw RuleViolation(.didNotFound, "\(did) does not exist")
        }
        guard !record.deactivated else { throw RuleViolation(.didDeactivated, "\(did) is deactivated") }
        guard record.authenticates(context.signer) else {
            throw RuleViolation(.notAuthorized, "signer \(context.signer) is not an authentication key of \(did)")
        }
        return record
    }

    /// The organization, which must be registered, not suspended, with an active DID and `role`.
    @discardableResult
    private func organization(_ did: DID, role: OrganizationRole) throws -> OrganizationRecord {
        guard let record = try state.record(OrganizationRecord.self, StateKey.organization(did)) else {
            throw RuleViolation(.organizationNotFound, "\(did) is not a registered organization")
        }
        guard !record.suspended else { throw RuleViolation(.organizationSuspended, "organization \(did) is suspended") }
        guard record.roles.contains(role) else {
            throw RuleViolation(.missingRole, "organization \(did) does not have the \(role.rawValue) role")
        }
        guard let document = try state.record(DIDRecord.self, StateKey.did(did)), !document.deactivated else {
            throw RuleViolation(.didDeactivated, "the DID of organization \(did) is deactivated")
        }
        return record
    }

    private func existingDID(_ did: DID) throws -> DIDRecord {
        guard let record = try state.record(DIDRecord.self, StateKey.did(did)) else {
            throw RuleViolation(.didNotFound, "\(did) does not exist")
        }
        guard !record.deactivated else { throw RuleViolation(.didDeactivated, "\(did) is deactivated") }
        return record
    }

    // MARK: Identity

    private func didCreate(_ payload: DIDCreate) throws {
        let derived = DID(initialKey: context.signer)
        guard payload.did == derived else {
            throw RuleViolation(.didMismatch, "\(payload.did) is not the DID of signer \(context.signer) (\(derived))")
        }
        guard try state.value(forKey: StateKey.did(payload.did)) == nil else {
            throw RuleViolation(.didAlreadyExists, "\(payload.did) already exists")
        }
        let record = DIDRecord(
            did: payload.did, version: 1, deactivated: false,
            verificationMethods: [VerificationMethodRecord(id: "key-1", publicKey: context.signer, relationships: .all)],
            services: payload.services, createdHeight: context.height, createdMilliseconds: context.timeMilliseconds,
            updatedHeight: context.height, updatedMilliseconds: context.timeMilliseconds)
        if context.historyHoldsCurrentDIDVersion {
            state.put(record, under: StateKey.did(payload.did), StateKey.didVersion(payload.did, 1))
        } else {
            // The history keeps superseded versions; version 1 joins it when version 2 is made.
            state.put(StateKey.did(payload.did), record)
        }
    }

    private func didUpdate(_ payload: DIDUpdate) throws {
        let previous = try actor(payload.did)
        var record = previous
        for operation in payload.operations {
            switch operation {
            case .addKey(let id, let publicKey, let relationships):
                guard !record.verificationMethods.contains(where: { $0.id == id }) else {
                    throw RuleViolation(.invalidDocument, "\(payload.did) already has a key with id \(id)")
                }
                guard !record.verificationMethods.contains(where: { $0.publicKey == publicKey }) else {
                    throw RuleViolation(.invalidDocument, "\(payload.did) already lists key \(publicKey)")
                }
                guard record.verificationMethods.count < LedgerLimits.verificationMethodsMax else {
                    throw RuleViolation(
                        .invalidDocument, "\(payload.did) would have more than \(LedgerLimits.verificationMethodsMax) keys")
                }
                record.verificationMethods.append(
                    VerificationMethodRecord(id: id, publicKey: publicKey, relationships: relationships))
            case .removeKey(let id):
                guard let index = record.verificationMethods.firstIndex(where: { $0.id == id }) else {
                    throw RuleViolation(.invalidDocument, "\(payload.did) has no key with id \(id)")
                }
                record.verificationMethods.remove(at: index)
            case .addService(let service):
                guard !record.services.contains(where: { $0.id == service.id }) else {
                    throw RuleViolation(.invalidDocument, "\(payload.did) already has a service with id \(service.id)")
                }
                guard record.services.count < LedgerLimits.servicesMax else {
                    throw RuleViolation(
                        .invalidDocument, "\(payload.did) would have more than \(LedgerLimits.servicesMax) services")
                }
                record.services.append(service)
            case .removeService(let id):
                guard let index = record.services.firstIndex(where: { $0.id == id }) else {
                    throw RuleViolation(.invalidDocument, "\(payload.did) has no service with id \(id)")
                }
                record.services.remove(at: index)
            }
        }
        guard record.verificationMethods.contains(where: { $0.relationships.contains(.authentication) }) else {
            throw RuleViolation(.invalidDocument, "the update would leave \(payload.did) without an authentication key")
        }
        record.verificationMethods.sort { $0.id < $1.id }
        record.services.sort { $0.id < $1.id }
        writeNewVersion(record, superseding: previous)
    }

    private func didDeactivate(_ payload: DIDDeactivate) throws {
        let previous = try actor(payload.did)
        var record = previous
        record.deactivated = true
        writeNewVersion(record, superseding: previous)
    }

    /// Makes `changed` the DID's next version after `previous`, its current one.
    private func writeNewVersion(_ changed: DIDRecord, superseding previous: DIDRecord) {
        precondition(previous.version < UInt64.max && changed.version == previous.version && changed.did == previous.did)
        var record = changed
        record.version += 1
        record.updatedHeight = context.height
        record.updatedMilliseconds = context.timeMilliseconds
        if context.historyHoldsCurrentDIDVersion {
            state.put(record, under: StateKey.did(record.did), StateKey.didVersion(record.did, record.version))
        } else {
            // The superseded version moves into the history; `did/d` holds the new one alone.
            state.put(StateKey.didVersion(previous.did, previous.version), previous)
            state.put(StateKey.did(record.did), record)
        }
    }

    // MARK: Governance

    private func governance(_ payload: Governance) throws {
        guard var governance = try state.record(GovernanceRecord.self, StateKey.governance) else {
            throw StateError(.corrupt, "the state holds no governance record")
        }
        let keys = Set(governance.keys)
        guard keys.contains(context.signer) else {
            throw RuleViolation(.notGovernanceKey, "signer \(context.signer) is not a governance key")
        }
        guard payload.sequence == governance.sequence + 1 else {
            throw RuleViolation(
                .wrongGovernanceSequence,
                "governance sequence \(payload.sequence) is not the next one (\(governance.sequence + 1))")
        }
        let approvalBytes = Governance.approvalBytes(chainID: context.chainID, sequence: payload.sequence, action: payload.action)
        var approvers: Set<PublicKey> = [context.signer]
        for approval in payload.approvals {
            guard keys.contains(approval.publicKey) else {
                throw RuleViolation(.invalidApproval, "approval by \(approval.publicKey), which is not a governance key")
            }
            guard approval.publicKey.isValidSignature(approval.signature, of: approvalBytes) else {
                throw RuleViolation(.invalidApproval, "the approval signature of \(approval.publicKey) does not verify")
            }
            approvers.insert(approval.publicKey)
        }
        guard approvers.count >= Int(governance.threshold) else {
            throw RuleViolation(
                .insufficientApprovals, "\(approvers.count) governance key(s) approved; the threshold is \(governance.threshold)")
        }
        try governanceAction(payload.action)
        governance.sequence += 1
        state.put(StateKey.governance, governance)
    }

    private func governanceAction(_ action: GovernanceAction) throws {
        switch action {
        case .registerOrganization(let did, let name, let roles):
            _ = try existingDID(did)
            guard try state.value(forKey: StateKey.organization(did)) == nil else {
                throw RuleViolation(.organizationExists, "\(did) is already a registered organization")
            }
            state.put(
                StateKey.organization(did),
                OrganizationRecord(did: did, name: name, roles: roles, suspended: false, registeredHeight: context.height))
        case .suspendOrganization(let did), .reinstateOrganization(let did):
            guard var record = try state.record(OrganizationRecord.self, StateKey.organization(did)) else {
                throw RuleViolation(.organizationNotFound, "\(did) is not a registered organization")
            }
            if case .suspendOrganization = action { record.suspended = true } else { record.suspended = false }
            state.put(StateKey.organization(did), record)
        case .setValidatorPower(let publicKey, let power):
            try scheduleValidatorChange(Validator(publicKey: publicKey, power: power))
        case .setParameters(let blockBytesMax, let blockTransactionsMax):
            guard blockBytesMax >= 1024, blockBytesMax <= UInt32(Limits.blockBytesMax), blockTransactionsMax >= 1,
                blockTransactionsMax <= UInt32(Limits.blockTransactionsMax)
            else {
                throw RuleViolation(
                    .invalidParameters,
                    "blockBytesMax must be 1024 to \(Limits.blockBytesMax) and blockTransactionsMax 1 to \(Limits.blockTransactionsMax)"
                )
            }
            state.put(
                StateKey.parameters, ParametersRecord(blockBytesMax: blockBytesMax, blockTransactionsMax: blockTransactionsMax))
        }
    }

    /// Schedules a power change for height + 2 (as CometBFT does), after checking that the set
    /// it leads to — with every change already scheduled — is non-empty and within limits.
    private func scheduleValidatorChange(_ change: Validator) throws {
        let effectiveHeight = context.height + 2
        guard let current = try state.record(ValidatorSetRecord.self, StateKey.validators) else {
            throw StateError(.corrupt, "the state holds no validator set")
        }
        let next = try state.record(ValidatorUpdatesRecord.self, StateKey.validatorUpdates(context.height + 1))?.updates ?? []
        let scheduled = try state.record(ValidatorUpdatesRecord.self, StateKey.validatorUpdates(effectiveHeight))?.updates ?? []
        var projected: [PublicKey: UInt64] = [:]
        for validator in current.set.validators { projected[validator.publicKey] = validator.power }
        for update in next + scheduled { projected[update.publicKey] = update.power == 0 ? nil : update.power }
        guard scheduled.count < Limits.validatorsMax || scheduled.contains(where: { $0.publicKey == change.publicKey }) else {
            // Bounded so the record always decodes (its decoder accepts validatorsMax entries).
            throw RuleViolation(
                .invalidValidatorChange,
                "height \(effectiveHeight) already has \(Limits.validatorsMax) scheduled validator changes")
        }
        if change.power == 0, projected[change.publicKey] == nil {
            throw RuleViolation(.invalidValidatorChange, "\(change.publicKey) is not a validator to remove")
        }
        projected[change.publicKey] = change.power == 0 ? nil : change.power
        guard !projected.isEmpty, projected.count <= Limits.validatorsMax else {
            throw RuleViolation(
                .invalidValidatorChange,
                "the change would leave \(projected.count) validators (1 to \(Limits.validatorsMax) allowed)")
        }
        state.put(StateKey.validatorUpdates(effectiveHeight), ValidatorUpdatesRecord(updates: scheduled + [change]))
    }

    // MARK: Consent and access

    private func consentRequest(_ payload: ConsentRequest) throws {
        _ = try actor(payload.consumer)
        try organization(payload.consumer, role: .consumer)
        try organization(payload.provider, role: .provider)
        _ = try existingDID(payload.subject)
        guard payload.validUntilMilliseconds > context.timeMilliseconds else {
            throw RuleViolation(.invalidValidity, "the requested end of validity is not after this block's time")
        }
        state.put(
            StateKey.consentRequest(context.hash),
            ConsentRequestRecord(id: context.hash, request: payload, height: context.height))
    }

    private func consentGrant(_ payload: ConsentGrant) throws {
        _ = try actor(payload.subject)
        try organization(payload.consumer, role: .consumer)
        try organization(payload.provider, role: .provider)
        guard payload.validUntilMilliseconds > payload.validFromMilliseconds,
            payload.validUntilMilliseconds > context.timeMilliseconds
        else {
            throw RuleViolation(.invalidValidity, "the consent must end after it starts and after this block's time")
        }
        if let maximum = payload.accessesMax, maximum == 0 {
            throw RuleViolation(.invalidValidity, "a maximum of zero accesses grants nothing")
        }
        if let requestID = payload.requestID {
            guard let request = try state.record(ConsentRequestRecord.self, StateKey.consentRequest(requestID))?.request else {
                throw RuleViolation(.requestMismatch, "consent request \(requestID) does not exist")
            }
            guard request.subject == payload.subject, request.consumer == payload.consumer, request.provider == payload.provider,
                request.purpose.code == payload.purpose.code, Set(payload.categories).isSubset(of: request.categories)
            else {
                throw RuleViolation(.requestMismatch, "the grant asks for something other than consent request \(requestID)")
            }
        }
        let id = context.hash
        state.put(
            StateKey.consent(id),
            ConsentRecord(id: id, grant: payload, grantedHeight: context.height, grantedMilliseconds: context.timeMilliseconds))
        state.set(StateKey.consentBySubject(payload.subject, id), [])
        state.set(StateKey.consentByConsumer(payload.consumer, id), [])
    }

    private func consentRevoke(_ payload: ConsentRevoke) throws {
        guard var record = try state.record(ConsentRecord.self, StateKey.consent(payload.consentID)) else {
            throw RuleViolation(.consentNotFound, "consent \(payload.consentID) does not exist")
        }
        _ = try actor(record.grant.subject)
        guard record.revokedHeight == nil else {
            throw RuleViolation(.consentRevoked, "consent \(payload.consentID) is already revoked")
        }
        record.revokedHeight = context.height
        record.revokedMilliseconds = context.timeMilliseconds
        state.put(StateKey.consent(payload.consentID), record)
    }

    /// Checks a consent is usable now by `consumer` from `provider` for `purposeCode` and `categories`.
    private func usableConsent(
        _ id: Hash, subject: DID?, consumer: DID, provider: DID, purposeCode: String, categories: [DataCategory]
    ) throws -> ConsentRecord {
        guard let record = try state.record(ConsentRecord.self, StateKey.consent(id)) else {
            throw RuleViolation(.consentNotFound, "consent \(id) does not exist")
        }
        let grant = record.grant
        // A deactivated subject can no longer revoke, so its consents must stop working too.
        guard let subjectDocument = try state.record(DIDRecord.self, StateKey.did(grant.subject)), !subjectDocument.deactivated
        else {
            throw RuleViolation(.didDeactivated, "the subject \(grant.subject) of consent \(id) is deactivated")
        }
        guard subject == nil || grant.subject == subject, grant.consumer == consumer, grant.provider == provider,
            grant.purpose.code == purposeCode
        else {
            throw RuleViolation(.consentMismatch, "consent \(id) is not for this subject, consumer, provider and purpose")
        }
        switch record.status(at: context.timeMilliseconds) {
        case .active: break
        case .revoked: throw RuleViolation(.consentRevoked, "consent \(id) was revoked at height \(record.revokedHeight ?? 0)")
        case .pending:
            throw RuleViolation(.consentNotYetValid, "consent \(id) is not valid before \(grant.validFromMilliseconds)")
        case .expired: throw RuleViolation(.consentExpired, "consent \(id) expired at \(grant.validUntilMilliseconds)")
        case .exhausted:
            throw RuleViolation(.accessLimitReached, "consent \(id) allows at most \(grant.accessesMax ?? 0) accesses")
        }
        guard Set(categories).isSubset(of: grant.categories) else {
            throw RuleViolation(
                .categoriesNotCovered, "consent \(id) does not cover \(categories.map(\.value).joined(separator: ", "))")
        }
        return record
    }

    private func accessRecord(_ payload: AccessRecord) throws {
        _ = try actor(payload.provider)
        try organization(payload.provider, role: .provider)
        try organization(payload.consumer, role: .consumer)
        var record = try usableConsent(
            payload.consentID, subject: nil, consumer: payload.consumer, provider: payload.provider,
            purposeCode: payload.purposeCode,
            categories: payload.categories)
        record.accessCount += 1
        state.put(StateKey.consent(record.id), record)
        let subject = record.grant.subject
        let sequence = (try state.record(AmountRecord.self, StateKey.accessCount(subject))?.value ?? 0) + 1
        state.put(StateKey.accessCount(subject), AmountRecord(sequence))
        state.put(
            StateKey.access(subject, sequence),
            AccessLogEntry(
                access: payload, transactionHash: context.hash, height: context.height, milliseconds: context.timeMilliseconds))
    }

    // MARK: Marketplace

    private func balance(_ did: DID) throws -> UInt64 {
        try state.record(AmountRecord.self, StateKey.balance(did))?.value ?? 0
    }

    private func setBalance(_ did: DID, _ amount: UInt64) {
        if amount == 0 { state.delete(StateKey.balance(did)) } else { state.put(StateKey.balance(did), AmountRecord(amount)) }
    }

    private func adjustEscrowTotal(by delta: Int64) throws {
        let total = try state.record(AmountRecord.self, StateKey.escrowTotal)?.value ?? 0
        let updated = delta >= 0 ? total + UInt64(delta) : total - UInt64(-delta)
        state.put(StateKey.escrowTotal, AmountRecord(updated))
    }

    private func transfer(_ payload: Transfer) throws {
        _ = try actor(payload.from)
        guard payload.from != payload.to else { throw RuleViolation(.selfTransfer, "a transfer must go to another DID") }
        _ = try existingDID(payload.to)
        let available = try balance(payload.from)
        guard available >= payload.amount else {
            throw RuleViolation(.insufficientFunds, "\(payload.from) holds \(available) credits, less than \(payload.amount)")
        }
        setBalance(payload.from, available - payload.amount)
        // Credits are bounded by the genesis total (< 2^62), so this cannot overflow.
        setBalance(payload.to, try balance(payload.to) + payload.amount)
    }

    private func offerCreate(_ payload: OfferCreate) throws {
        _ = try actor(payload.provider)
        try organization(payload.provider, role: .provider)
        for subject in payload.subjects { _ = try existingDID(subject) }
        state.put(
            StateKey.offer(context.hash),
            OfferRecord(id: context.hash, offer: payload, createdHeight: context.height, closed: false))
    }

    private func offerClose(_ payload: OfferClose) throws {
        guard var record = try state.record(OfferRecord.self, StateKey.offer(payload.id)) else {
            throw RuleViolation(.offerNotFound, "offer \(payload.id) does not exist")
        }
        _ = try actor(record.offer.provider)
        guard !record.closed else { throw RuleViolation(.offerClosed, "offer \(payload.id) is already closed") }
        record.closed = true
        state.put(StateKey.offer(payload.id), record)
    }

    private func orderPlace(_ payload: OrderPlace) throws {
        _ = try actor(payload.consumer)
        try organization(payload.consumer, role: .consumer)
        guard let offerRecord = try state.record(OfferRecord.self, StateKey.offer(payload.offerID)) else {
            throw RuleViolation(.offerNotFound, "offer \(payload.offerID) does not exist")
        }
        guard !offerRecord.closed else { throw RuleViolation(.offerClosed, "offer \(payload.offerID) is closed") }
        let offer = offerRecord.offer
        try organization(offer.provider, role: .provider)
        guard offer.license.allowedPurposes.contains(payload.purposeCode) else {
            throw RuleViolation(.purposeNotLicensed, "the offer's license does not allow purpose \(payload.purposeCode)")
        }
        guard payload.consentIDs.count == offer.subjects.count else {
            throw RuleViolation(
                .subjectConsentMissing,
                "the offer carries personal data of \(offer.subjects.count) subject(s); the order names \(payload.consentIDs.count) consent(s)"
            )
        }
        for (subject, consentID) in zip(offer.subjects, payload.consentIDs) {
            _ = try usableConsent(
                consentID, subject: subject, consumer: payload.consumer, provider: offer.provider,
                purposeCode: payload.purposeCode,
                categories: offer.categories)
        }
        let available = try balance(payload.consumer)
        guard available >= offer.price else {
            throw RuleViolation(
                .insufficientFunds, "\(payload.consumer) holds \(available) credits, less than the price \(offer.price)")
        }
        setBalance(payload.consumer, available - offer.price)
        try adjustEscrowTotal(by: Int64(offer.price))
        state.put(
            StateKey.order(context.hash),
            OrderRecord(
                id: context.hash, consumer: payload.consumer, provider: offer.provider, offerID: payload.offerID,
                purposeCode: payload.purposeCode, consentIDs: payload.consentIDs, price: offer.price, escrow: offer.price,
                status: .placed,
                placedHeight: context.height, deadlineHeight: context.height + offer.deliveryDeadlineBlocks, packageHash: nil))
    }

    private func order(_ id: Hash) throws -> OrderRecord {
        guard let record = try state.record(OrderRecord.self, StateKey.order(id)) else {
            throw RuleViolation(.orderNotFound, "order \(id) does not exist")
        }
        return record
    }

    private func orderDeliver(_ payload: OrderDeliver) throws {
        var record = try order(payload.orderID)
        _ = try actor(record.provider)
        guard record.status == .placed else {
            throw RuleViolation(.orderWrongStatus, "order \(payload.orderID) is \(record.status), not awaiting delivery")
        }
        guard context.height <= record.deadlineHeight else {
            throw RuleViolation(
                .deliveryDeadlinePassed, "order \(payload.orderID) had to be delivered by height \(record.deadlineHeight)")
        }
        record.status = .delivered
        record.packageHash = payload.packageHash
        state.put(StateKey.order(payload.orderID), record)
    }

    private func orderConfirm(_ payload: OrderConfirm) throws {
        var record = try order(payload.id)
        _ = try actor(record.consumer)
        guard record.status == .delivered else {
            throw RuleViolation(.orderWrongStatus, "order \(payload.id) is \(record.status), not delivered")
        }
        setBalance(record.provider, try balance(record.provider) + record.escrow)
        try adjustEscrowTotal(by: -Int64(record.escrow))
        record.escrow = 0
        record.status = .confirmed
        state.put(StateKey.order(payload.id), record)
    }

    private func orderRefund(_ payload: OrderRefund) throws {
        var record = try order(payload.id)
        _ = try actor(record.consumer)
        guard record.status == .placed else {
            throw RuleViolation(
                .orderWrongStatus, "order \(payload.id) is \(record.status); only an undelivered order is refunded")
        }
        guard context.height > record.deadlineHeight else {
            throw RuleViolation(.deadlineNotPassed, "order \(payload.id) may be delivered until height \(record.deadlineHeight)")
        }
        setBalance(record.consumer, try balance(record.consumer) + record.escrow)
        try adjustEscrowTotal(by: -Int64(record.escrow))
        record.escrow = 0
        record.status = .refunded
        state.put(StateKey.order(payload.id), record)
    }
}
