// swift-tools-version:6.1
// Socai's benchmarks: a separate package so the main build and `make test` never compile them.
// `make bench` builds this in release mode and runs it.
import PackageDescription

let package = Package(
    name: "SocaiBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "socai", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "SocaiBenchmarks",
            dependencies: [
                .product(name: "SocaiCore", package: "socai"),
                .product(name: "SocaiCrypto", package: "socai"),
                .product(name: "SocaiState", package: "socai"),
                .product(name: "SocaiStore", package: "socai"),
                .product(name: "SocaiDID", package: "socai"),
                .product(name: "SocaiAudit", package: "socai"),
                .product(name: "SocaiAPI", package: "socai"),
                .product(name: "SocaiNode", package: "socai"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        )
    ]
)
