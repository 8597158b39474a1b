import SocaiCore
import SocaiCrypto
import SocaiState

/// A one-validator chain in memory with real headers, certificates and state roots, on which
/// `alice` creates a DID, rotates its key twice and deactivates it.
final class DIDFixture {
    static let chainID = try! ChainID("socai-did-test")
    static let genesisTimeMilliseconds: UInt64 = 1_700_000_000_000

    let backend = InMemoryStateBackend()
    let executor: LedgerExecutor
    let chainID: ChainID
    let genesis: Genesis
    let validator = DIDFixture.key("did validator")
    let alice = DIDFixture.key("alice")
    let aliceSecond = DIDFixture.key("alice second")
    let aliceThird = DIDFixture.key("alice third")
    var chain: DevelopmentChain
    private(set) var headers: [BlockHeader] = []
    private(set) var certificates: [CommitCertificate] = []
    private(set) var lastBlock: Block?
    private var nonces: [PublicKey: UInt64] = [:]

    static func key(_ label: String) -> SigningKey { try! SigningKey(seed: SHA256.hash(Array(label.utf8))) }

    var aliceDID: DID { DID(initialKey: PublicKey(of: alice)) }
    var queries: LedgerQueries { LedgerQueries(backend: backend) }

    init(
        chainID: ChainID = DIDFixture.chainID, validatorSet: ValidatorSet? = nil, signers: [SigningKey]? = nil,
        formatVersion: UInt8 = Genesis.formatVersionLatest
    ) {
        let file = Genesis.File(
            formatVersion: formatVersion, chainID: chainID.value, genesisTimeMilliseconds: Self.genesisTimeMilliseconds,
            validators: [Genesis.ValidatorEntry(name: "v", publicKey: Hex.encode(validator.publicKey), power: 10)],
            governance: Genesis.Governance(keys: [Hex.encode(validator.publicKey)], threshold: 1), organizations: [],
            accounts: [])
        genesis = try! Genesis(file: file)
        self.chainID = chainID
        executor = LedgerExecutor(genesis: genesis)
        backend.apply(try! LedgerExecutor.genesisChanges(genesis, on: backend))
        chain = try! DevelopmentChain(
            chainID: chainID, genesisHash: genesis.hash, validatorKeys: signers ?? [validator],
            validatorSet: validatorSet ?? genesis.validatorSet)
    }

    /// The time of block `height` (one minute apart, starting a minute after genesis).
    static func time(ofBlock height: UInt64) -> UInt64 { genesisTimeMilliseconds + height * 60_000 }

    func sign(_ payload: some LedgerPayload, with key: SigningKey) -> TransactionEnvelope {
        let signer = PublicKey(of: key)
        let nonce = (nonces[signer] ?? 0) + 1
        nonces[signer] = nonce
        return try! payload.envelope(chainID: chainID, key: key, nonce: nonce)
    }

    /// Executes and commits a block of `transactions`; every one must succeed.
    func block(_ transactions: [TransactionEnvelope]) {
        let time = Self.time(ofBlock: chain.height + 1)
        var changes: StateChanges?
        let (block, commit) = chain.nextBlock(transactions: transactions, timeMilliseconds: time) { draft in
            let execution = try! executor.execute(draft, on: backend)
            precondition(execution.outcomes.allSatisfy { $0.code == .ok }, "\(execution.outcomes)")
            changes = execution.changes
            return execution.changes.stateRoot
        }
        backend.apply(changes!)
        precondition(backend.stateRoot == block.header.stateRoot)
        headers.append(block.header)
        certificates.append(commit)
        lastBlock = block
    }

    /// From the next block on, `set` (signed by `signers`) commits the chain: a validator
    /// change as the state machine would make it effective, minus the governance transaction.
    func switchValidators(to set: ValidatorSet, signers: [SigningKey]) {
        var next = try! DevelopmentChain(
            chainID: chainID, genesisHash: genesis.hash, validatorKeys: signers, validatorSet: set)
        next.resume(after: lastBlock!, commit: certificates.last!)
        chain = next
    }

    /// Block 1 creates alice's DID with a service; blocks 2 and 3 rotate its key; block 4 deactivates it.
    func buildHistory(deactivate: Bool = true) {
        let service = try! DIDService(id: "hub", type: "LinkedDomains", endpoint: "https://alice.example")
        block([sign(DIDCreate(did: aliceDID, services: [service]), with: alice)])
        block([
            sign(
                DIDUpdate(
                    did: aliceDID,
                    operations: [
                        .addKey(id: "key-2", publicKey: PublicKey(of: aliceSecond), relationships: .all), .removeKey(id: "key-1"),
                    ]), with: alice)
        ])
        block([
            sign(
                DIDUpdate(
                    did: aliceDID,
                    operations: [
                        .addKey(id: "key-3", publicKey: PublicKey(of: aliceThird), relationships: .authentication),
                        .removeKey(id: "key-2"),
                    ]), with: aliceSecond)
        ])
        if deactivate { block([sign(DIDDeactivate(did: aliceDID), with: aliceThird)]) }
    }
}
