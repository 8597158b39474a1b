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
        .library(name: "SocaiStore", targets: ["SocaiStore"]),
        .library(name: "SocaiKeystore", targets: ["SocaiKeystore"]),
        .library(name: "SocaiNode", targets: ["SocaiNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // System libraries. `make deps` installs them on Debian when pkg-config cannot find them.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),

        // Bottom: cryptographic primitives (the only importer of CSodium).
        .target(name: "SocaiCrypto", dependencies: ["CSodium"]),
        // Core value types, canonical encoding, Merkle trees, genesis. No I/O.
        .target(name: "SocaiCore", dependencies: ["SocaiCrypto"]),
        // The application: DIDs, governance, consent, access, market; the authenticated state map.
        .target(name: "SocaiState", dependencies: ["SocaiCore"]),
        // Edges.
        .target(name: "SocaiStore", dependencies: ["SocaiCore", "SocaiState", "CSQLite"]),
        .target(name: "SocaiKeystore", dependencies: ["SocaiCore", "SocaiCrypto"]),
        .target(name: "SocaiNode", dependencies: ["SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore"]),
        .executableTarget(
            name: "socai",
            dependencies: [
                "SocaiCore", "SocaiCrypto", "SocaiState", "SocaiStore", "SocaiKeystore", "SocaiNode",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "SocaiCryptoTests", dependencies: ["SocaiCrypto"]),
        .testTarget(
            name: "SocaiCoreTests",
            dependencies: ["SocaiCore", "SocaiCrypto"]
        ),
        .testTarget(name: "SocaiStateTests", dependencies: ["SocaiState", "SocaiCore", "SocaiCrypto"]),
        .testTarget(name: "SocaiStoreTests", dependencies: ["SocaiStore", "SocaiCore"]),
        .testTarget(name: "SocaiKeystoreTests", dependencies: ["SocaiKeystore", "SocaiCrypto"]),
        .testTarget(name: "SocaiNodeTests", dependencies: ["SocaiNode", "SocaiCore", "SocaiState", "SocaiStore"]),
        .testTarget(name: "SocaiCLITests", dependencies: ["SocaiCore", "SocaiStore"]),
    ]
)
