import SocaiCore

/// What executing one block produced.
public struct BlockExecution: Sendable {
    /// One outcome per transaction, in block order.
    public let outcomes: [TransactionOutcome]
    /// The state changes, tree nodes and new state root to persist with the block.
    public let changes: StateChanges
    /// The validator set in force at the executed height (the header's validators hash commits to it).
    public let validatorSet: ValidatorSet
    /// The state root the block was executed on: the changes apply only to that state, so a
    /// store that persists a cached execution checks its own root against this first.
    public let baseStateRoot: Hash

    /// The state root after the block (the header's state root).
    public var stateRoot: Hash { changes.stateRoot }
}

/// The ledger's state machine: applies blocks to state, deterministically.
///
/// Given the same state and the same block, every machine produces the same outcomes, the
/// same changes and the same state root: the only clock is the block's time, iteration
/// never follows dictionary order, and nothing random is read.
public struct LedgerExecutor: Sendable {
    /// The chain whose transactions are executed.
    public let chainID: ChainID
    /// The chain's format version (`Genesis.formatVersionsKnown`), which selects the rules'
    /// state layout: version 1 also writes a DID's current version under its history key.
    public let formatVersion: UInt8

    /// Creates an executor for `chainID` of format `formatVersion` (by default the latest,
    /// which every new genesis file gets; a chain's own is `init(genesis:)`'s).
    public init(chainID: ChainID, formatVersion: UInt8 = Genesis.formatVersionLatest) {
        precondition(Genesis.formatVersionsKnown.contains(formatVersion), "format version \(formatVersion) is not executable")
        self.chainID = chainID
        self.formatVersion = formatVersion
    }

    /// Creates the executor of the chain that `genesis` starts.
    public init(genesis: Genesis) { self.init(chainID: genesis.chainID, formatVersion: genesis.formatVersion) }

    /// Whether a DID's current version is also kept under its history key
    /// (`did-version/d/v`), as format version 1 does; from version 2 the history keeps
    /// superseded versions only, and the current one lives under `did/d` alone.
    static func historyHoldsCurrentDIDVersion(formatVersion: UInt8) -> Bool { formatVersion == 1 }

    /// The initial state written by a genesis file, on an empty backend.
    public static func genesisChanges(_ genesis: Genesis, on backend: any StateBackend) throws(StateError) -> StateChanges {
        precondition(backend.stateRoot == .zero, "genesis state goes on an empty backend")
        let state = StateOverlay(backend: backend)
        let time = genesis.genesisTimeMilliseconds
        state.put(
            StateKey.governance,
            GovernanceRecord(keys: genesis.governanceKeys, threshold: genesis.governanceThreshold, sequence: 0))
        state.put(
            StateKey.parameters,
            ParametersRecord(
                blockBytesMax: genesis.parameters.blockBytesMax, blockTransactionsMax: genesis.parameters.blockTransactionsMax))
        state.put(StateKey.validators, ValidatorSetRecord(set: genesis.validatorSet))
        state.put(StateKey.escrowTotal, AmountRecord(0))
        func createDID(for key: PublicKey) throws(StateError) -> DID {
            let did = DID(initialKey: key)
            if try state.value(forKey: StateKey.did(did)) == nil {
                let record = DIDRecord(
                    did: did, version: 1, deactivated: false,
                    verificationMethods: [VerificationMethodRecord(id: "key-1", publicKey: key, relationships: .all)],
                    services: [],
                    createdHeight: 0, createdMilliseconds: time, updatedHeight: 0, updatedMilliseconds: time)
                if historyHoldsCurrentDIDVersion(formatVersion: genesis.formatVersion) {
                    state.put(record, under: StateKey.did(did), StateKey.didVersion(did, 1))
                } else {
                    state.put(StateKey.did(did), record)
                }
            }
            return did
        }
        for organization in genesis.organizations {
            let did = try createDID(for: organization.publicKey)
            state.put(
                StateKey.organization(did),
                OrganizationRecord(
                    did: did, name: organization.name, roles: organization.roles, suspended: false, registeredHeight: 0))
        }
        for account in genesis.accounts {
            let did = try createDID(for: account.publicKey)
            // Zero is the absence of a balance entry, in genesis as after a transfer.
            if account.balance > 0 { state.put(StateKey.balance(did), AmountRecord(account.balance)) }
        }
        state.commitTransaction()
        // Genesis is the state at height 0.
        return try state.finish(version: 0)
    }

    /// The validator set in force at `height`, given the state after block `height - 1`.
    public func validatorSet(forHeight height: UInt64, on backend: any StateBackend) throws(StateError) -> ValidatorSet {
        let state = StateOverlay(backend: backend)
        return try Self.applyScheduledValidatorUpdates(height: height, state: state, write: false)
    }

    /// Applies `block` to the state in `backend` (the state after the previous block).
    ///
    /// Transaction failures are outcomes, not errors; this throws only when the state
    /// itself cannot be read or is corrupt. With `signaturesVerified`, the caller vouches that
    /// it has already checked every transaction signature (for example in parallel, on all
    /// cores); the outcome is then identical to checking them here.
    public func execute(
        _ block: Block, on backend: any StateBackend, signaturesVerified: Bool = false
    ) throws(StateError) -> BlockExecution {
        let header = block.header
        precondition(header.chainID == chainID, "a block of another chain reached the executor")
        // A transaction writes its signer's nonce, its outcome and usually one or two more keys.
        let state = StateOverlay(backend: backend, keysExpected: 4 * block.transactions.count + 8)
        let baseStateRoot = backend.stateRoot
        let validatorSet = try Self.applyScheduledValidatorUpdates(height: header.height, state: state, write: true)
        state.commitTransaction()
        var outcomes: [TransactionOutcome] = []
        outcomes.reserveCapacity(block.transactions.count)
        for (index, envelope) in block.transactions.enumerated() {
            let context = TransactionContext(
                envelope: envelope, hash: envelope.hash, height: header.height, timeMilliseconds: header.timeMilliseconds,
                index: UInt32(index), chainID: chainID,
                historyHoldsCurrentDIDVersion: Self.historyHoldsCurrentDIDVersion(formatVersion: formatVersion))
            outcomes.append(try apply(context, state: state, signatureVerified: signaturesVerified))
        }
        return BlockExecution(
            outcomes: outcomes, changes: try state.finish(version: header.height), validatorSet: validatorSet,
            baseStateRoot: baseStateRoot)
    }

    /// Checks a transaction for admission to a mempool, without changing state: its outcome if
    /// it were executed alone at `height` and `timeMilliseconds` after the committed state, with
    /// `pendingFromSigner` earlier transactions of the same signer assumed ahead of it. Only
    /// this state machine decides validity; the mempool asks here.
    /// With `signatureVerified` the caller vouches that it has checked the signature (off the
    /// thread that owns the state, for example).
    public func check(
        _ envelope: TransactionEnvelope, on backend: any StateBackend, height: UInt64, timeMilliseconds: UInt64,
        pendingFromSigner: UInt64 = 0, signatureVerified: Bool = false
    ) throws(StateError) -> TransactionOutcome {
        let state = StateOverlay(backend: backend)
        if pendingFromSigner > 0 {
            // Stand in for the pending transactions' nonces so this one is judged as next in line.
            let last = try state.record(AccountRecord.self, StateKey.account(envelope.signer))?.nonce ?? 0
            state.put(StateKey.account(envelope.signer), AccountRecord(nonce: last + pendingFromSigner))
            state.commitTransaction()
        }
        let context = TransactionContext(
            envelope: envelope, hash: envelope.hash, height: height, timeMilliseconds: timeMilliseconds, index: 0,
            chainID: chainID, historyHoldsCurrentDIDVersion: Self.historyHoldsCurrentDIDVersion(formatVersion: formatVersion))
        return try apply(context, state: state, signatureVerified: signatureVerified)
    }

    /// Applies the power changes scheduled for `height` to the stored set and returns the result.
    static func applyScheduledValidatorUpdates(height: UInt64, state: StateOverlay, write: Bool) throws(StateError)
        -> ValidatorSet
    {
        guard let current = try state.record(ValidatorSetRecord.self, StateKey.validators) else {
            throw StateError(.corrupt, "the state holds no validator set")
        }
        guard let scheduled = try state.record(ValidatorUpdatesRecord.self, StateKey.validatorUpdates(height)) else {
            return current.set
        }
        let updated = try applying(scheduled.updates, to: current.set)
        if write {
            state.put(StateKey.validators, ValidatorSetRecord(set: updated))
            state.delete(StateKey.validatorUpdates(height))
        }
        return updated
    }

    /// The set after `updates` (power 0 removes); the changes were checked when decided.
    static func applying(_ updates: [Validator], to set: ValidatorSet) throws(StateError) -> ValidatorSet {
        var powers: [PublicKey: UInt64] = [:]
        for validator in set.validators { powers[validator.publicKey] = validator.power }
        for update in updates { powers[update.publicKey] = update.power == 0 ? nil : update.power }
        do throws(FormatError) {
            return try ValidatorSet(powers.map { Validator(publicKey: $0.key, power: $0.value) })
        } catch {
            throw StateError(.corrupt, "scheduled validator updates give an invalid set: \(error.message)")
        }
    }

    private func apply(_ context: TransactionContext, state: StateOverlay, signatureVerified: Bool) throws(StateError)
        -> TransactionOutcome
    {
        let envelope = context.envelope
        func outcome(_ code: TransactionResultCode, _ message: String) -> TransactionOutcome {
            TransactionOutcome(transactionHash: context.hash, code: code, message: message)
        }
        // Checks that leave no trace at all, not even a nonce: the signer is not proven.
        guard envelope.chainID == chainID else {
            return outcome(.wrongChain, "transaction is for chain \(envelope.chainID), not \(chainID)")
        }
        guard signatureVerified || envelope.hasValidSignature else {
            return outcome(.invalidSignature, "the signature does not verify for signer \(envelope.signer)")
        }
        let accountKey = StateKey.account(envelope.signer)
        let lastNonce = try state.record(AccountRecord.self, accountKey)?.nonce ?? 0
        guard lastNonce < UInt64.max, envelope.nonce == lastNonce + 1 else {
            return outcome(.badNonce, "nonce \(envelope.nonce) is not the signer's next nonce \(lastNonce &+ 1)")
        }

        // From here the nonce is consumed whatever the result; the transaction's other writes
        // apply only if every rule passes.
        let result: TransactionOutcome
        do {
            try LedgerRules(context: context, state: state).apply()
            result = outcome(.ok, "applied")
        } catch let violation as RuleViolation {
            // A rule's violation consumes the nonce and leaves an outcome record, which a
            // node's store finds its result row through (codes 1 to 3 leave neither).
            precondition(violation.code.consumesNonce, "rule violation \(violation.code) below the nonce-consuming codes")
            state.discardTransaction()
            result = outcome(violation.code, violation.message)
        } catch let error as StateError {
            throw error
        } catch {
            preconditionFailure("unexpected error from ledger rules: \(error)")
        }
        state.put(accountKey, AccountRecord(nonce: envelope.nonce))
        state.put(
            StateKey.transaction(context.hash),
            TransactionOutcomeRecord(height: context.height, index: context.index, code: result.code))
        state.commitTransaction()
        return result
    }
}

/// The validator set as a state record (its canonical encoding).
public struct ValidatorSetRecord: StateRecord {
    /// The set.
    public var set: ValidatorSet
    /// Wraps a set.
    public init(set: ValidatorSet) { self.set = set }
    /// Writes the set.
    public func encode(to writer: inout ByteWriter) { writer.write(set) }
    /// Reads the set.
    public init(from reader: inout ByteReader) throws(FormatError) { set = try reader.read(ValidatorSet.self) }
}

/// What a rule needs to know about the transaction being applied.
struct TransactionContext {
    let envelope: TransactionEnvelope
    let hash: Hash
    let height: UInt64
    let timeMilliseconds: UInt64
    let index: UInt32
    let chainID: ChainID
    /// `LedgerExecutor.historyHoldsCurrentDIDVersion(formatVersion:)` for the chain.
    let historyHoldsCurrentDIDVersion: Bool

    var signer: PublicKey { envelope.signer }
}
