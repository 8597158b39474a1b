// swift-tools-version:6.1
// Socai: a permissioned, append-only ledger for consent and data exchange.
// Dependencies point one way: the C shims and SocaiCrypto at the bottom, SocaiCore
// (pure value types and their canonical encoding) above them, storage, keystore,
// node and the command line at the edges. See docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "socai",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "socai", targets: ["socai"]),
        .library(name: "SocaiCrypto", targets: ["SocaiCrypto"]),
        .library(name: "SocaiCore", targets: ["SocaiCore"]),
        .library(name: "SocaiState", targets: ["SocaiState"]),
        .library(name: "SocaiConsensus", targets: ["SocaiConsensus"]),
        .library(name: "SocaiStore", targets: ["SocaiStore"]),
        .library(name: "SocaiKeystore", targets: ["SocaiKeystore"]),
        .library(name: "SocaiNode", targets: ["SocaiNode"]),
        .library(name: "SocaiAPI", targets: ["SocaiAPI"]),
        .library(name: "SocaiNetwork", targets: ["SocaiNetwork"]),
        .library(name: "SocaiDID", targets: ["SocaiDID"]),
        .library(name: "SocaiAudit", targets: ["SocaiAudit"]),
        .library(name: "SocaiHarness", targets: ["SocaiHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // System libraries. `make deps` installs them on Debian when pkg-config cannot find them.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        // OpenSSL's libcrypto, for SHA-256 alone: its SHA-256 uses the CPU's SHA extensions
        // (SHA-NI), libsodium's does not. Everything with a secret stays on libsodium.
        .systemLibrary(
            name: "CLibcrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        // glibc's malloc.h (part of libc), for the allocator settings of a validator process.
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),

        // Bottom: cryptographic primitives (the only importer of CSodium and CLibcrypto).
        .target(name: "SocaiCrypto", dependencies: ["CSodium", "CLibcrypto"]),
        // Core value types, canonical encoding, Merkle trees, genesis. No I/O.
        .target(name: "SocaiCore", dependencies: ["SocaiCrypto"]),
        // The application: DIDs, governance, consent, access, market; the authenticated state map.
        .target(name: "SocaiState", dependencies: ["SocaiCore"]),
        // Tendermint as a pure state machine: events in, actions out; no clock, no I/O.
        .target(name: "SocaiConsensus", dependencies: ["SocaiCore"]),
        // Edges.
        .target(name: "SocaiStore", dependencies: ["SocaiCore", "SocaiState", "CSQLite"]),
        .target(name: "SocaiKeystore", dependencies: ["SocaiCore", "SocaiCrypto"]),
        // Peer-to-peer transport. Protocol logic (frames, handshake, encryption) imports only
        // NIOCore; the one file that opens sockets (PeerNetwork.swift) imports NIOPosix.
        .target(
            name: "SocaiNetwork",
            dependencies: [
                "SocaiCore", "SocaiCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // W3C DID documents and resolution results for did:socai (from state) and did:key (offline),
        // and the proofs a client that trusts only genesis can check.
        .target(name: "SocaiDID", dependencies: ["SocaiCore", "SocaiCrypto", "SocaiState"]),
        // The auditor: chain export and import, replay from the genesis file alone, consent audits.
        .target(name: "SocaiAudit", dependencies: ["SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore"]),
        .target(
            name: "SocaiNode",
            dependencies: [
                "SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore", "SocaiConsensus", "SocaiNetwork",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The HTTP API (Hummingbird): thin handlers over SocaiNode's NodeService.
        .target(
            name: "SocaiAPI",
            dependencies: [
                "SocaiCore", "SocaiCrypto", "SocaiState", "SocaiNode", "SocaiDID",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The multi-node harness (real processes from manifests, faults, invariants, reports) and the
        // seeded in-process consensus simulation swarm.
        .target(
            name: "SocaiHarness",
            dependencies: ["SocaiCore", "SocaiCrypto", "SocaiConsensus", "SocaiState", "SocaiStore", "SocaiAudit"]
        ),
        .executableTarget(
            name: "socai",
            dependencies: [
                "CMalloc", "SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore", "SocaiKeystore", "SocaiNode", "SocaiAPI",
                "SocaiDID", "SocaiAudit", "SocaiHarness",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test support: the one reader of docs/FORMAT.md's vectors, blocks and tables.
        .target(name: "SocaiFormatDocument", path: "Tests/SocaiFormatDocument"),
        .testTarget(name: "SocaiCryptoTests", dependencies: ["SocaiCrypto"]),
        .testTarget(
            name: "SocaiCoreTests",
            dependencies: ["SocaiCore", "SocaiCrypto", "SocaiFormatDocument"]
        ),
        .testTarget(name: "SocaiStateTests", dependencies: ["SocaiState", "SocaiCore", "SocaiCrypto", "SocaiFormatDocument"]),
        .testTarget(name: "SocaiConsensusTests", dependencies: ["SocaiConsensus", "SocaiCore", "SocaiCrypto", "SocaiHarness"]),
        .testTarget(name: "SocaiStoreTests", dependencies: ["SocaiStore", "SocaiCore"]),
        .testTarget(name: "SocaiKeystoreTests", dependencies: ["SocaiKeystore", "SocaiCrypto"]),
        .testTarget(
            name: "SocaiNodeTests",
            dependencies: ["SocaiNode", "SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore", "SocaiNetwork"]
        ),
        .testTarget(
            name: "SocaiDIDTests", dependencies: ["SocaiDID", "SocaiState", "SocaiCore", "SocaiCrypto", "SocaiFormatDocument"]),
        .testTarget(
            name: "SocaiAuditTests",
            dependencies: ["SocaiAudit", "SocaiStore", "SocaiState", "SocaiCore", "SocaiCrypto"]
        ),
        .testTarget(
            name: "SocaiHarnessTests",
            dependencies: ["SocaiHarness", "SocaiConsensus", "SocaiAudit", "SocaiCore", "SocaiCrypto"]
        ),
        .testTarget(name: "SocaiCLITests", dependencies: ["SocaiCore", "SocaiStore"]),
        .testTarget(
            name: "SocaiAPITests",
            dependencies: [
                "SocaiAPI", "SocaiNode", "SocaiState", "SocaiCore", "SocaiCrypto", "SocaiDID",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SocaiNetworkTests",
            dependencies: [
                "SocaiNetwork", "SocaiCore", "SocaiCrypto", "SocaiFormatDocument",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
