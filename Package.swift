// swift-tools-version: 6.0
// The Runnel package: a Kafka-compatible partitioned-log streaming platform.
// Targets are the module boundaries drawn in ARCHITECTURE.md; dependencies only point down.
import PackageDescription

let package = Package(
    name: "Runnel",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RunnelCodecs", targets: ["RunnelCodecs"]),
        .library(name: "RunnelProtocol", targets: ["RunnelProtocol"]),
        .library(name: "RunnelStorage", targets: ["RunnelStorage"]),
        .library(name: "RunnelBroker", targets: ["RunnelBroker"]),
        .library(name: "RunnelClient", targets: ["RunnelClient"]),
        .executable(name: "runnel", targets: ["runnel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The broker's /metrics: swift-metrics handles, exposed by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // etcd v3 through its JSON gateway (README: why not gRPC).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // System libraries, linked from Debian's -dev packages (see .ci/run).
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        // CRC32C kernels: SSE4.2 instructions chosen at run time, table-driven fallback.
        .target(name: "CRunnelKernels"),

        .target(
            name: "RunnelCodecs",
            dependencies: ["CLZ4", "CZstd", "CZlib", "CSnappy", "CRunnelKernels"]
        ),
        .target(
            name: "RunnelProtocol",
            dependencies: ["RunnelCodecs", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "RunnelStorage",
            dependencies: ["RunnelProtocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Pure state machines: no sockets, no files, no clock (ARCHITECTURE.md).
        .target(name: "RunnelCoordinator"),
        // The ISR and high-watermark rules as a pure state machine (no imports, no clock).
        .target(name: "RunnelReplication"),
        .target(
            name: "RunnelCluster",
            dependencies: [
                "RunnelProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RunnelBroker",
            dependencies: [
                "RunnelProtocol", "RunnelStorage", "RunnelCluster", "RunnelCodecs", "RunnelCoordinator", "RunnelReplication",
                "RunnelWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // One pipelined Kafka connection (correlation ids, ApiVersions negotiation), shared by
        // the client and the broker's follower fetchers.
        .target(
            name: "RunnelWire",
            dependencies: [
                "RunnelProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The Swift client: speaks only the Kafka protocol, so it works with any Kafka-compatible broker.
        .target(
            name: "RunnelClient",
            dependencies: [
                "RunnelProtocol", "RunnelCodecs", "RunnelWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The pure parts of `runnel bench` (key choice, pacing, latency recording, reports,
        // HDR and SVG output), a library so that its tests need no broker.
        .target(
            name: "RunnelBench",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "runnel",
            dependencies: [
                "RunnelBroker", "RunnelClient", "RunnelBench",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A child process for the storage crash tests (killed mid-append) and reopen timing.
        .executableTarget(name: "runnel-log-writer", dependencies: ["RunnelStorage", "RunnelProtocol"], path: "Sources/RunnelLogWriter"),

        .testTarget(name: "RunnelCodecsTests", dependencies: ["RunnelCodecs"]),
        .testTarget(
            name: "RunnelProtocolTests",
            dependencies: ["RunnelProtocol", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "RunnelCoordinatorTests", dependencies: ["RunnelCoordinator"]),
        .testTarget(name: "RunnelReplicationTests", dependencies: ["RunnelReplication"]),
        .testTarget(
            name: "RunnelBrokerTests",
            dependencies: [
                "RunnelBroker", "RunnelStorage", "RunnelProtocol", "RunnelCodecs", "RunnelCluster",
                .product(name: "NIOCore", package: "swift-nio"),
                // EmbeddedChannel for the connection handler, ByteToMessageDecoderVerifier for framing.
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "RunnelClientTests",
            dependencies: [
                "RunnelClient", "RunnelBroker", "RunnelProtocol", "RunnelCodecs",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "RunnelClusterTests",
            dependencies: ["RunnelCluster", "RunnelProtocol", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "RunnelBenchTests",
            dependencies: ["RunnelBench", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        .testTarget(
            name: "RunnelStorageTests",
            dependencies: ["RunnelStorage", "RunnelProtocol", "RunnelCodecs", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ]
)
