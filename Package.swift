// swift-tools-version:6.0
import PackageDescription

import Foundation

/// The CPU that numeric kernels are compiled for. Loupe is built from source on the machine
/// that runs it, so release builds use every vector extension the machine has (AVX2 and FMA on
/// current x86-64: exact GELU and softmax run 2-3x faster than on baseline x86-64). Set
/// LOUPE_TARGET_CPU (e.g. `x86-64`) to build a binary for other machines.
let targetCPU = ProcessInfo.processInfo.environment["LOUPE_TARGET_CPU"] ?? "native"

/// Numeric targets are always compiled with full optimisation of their inner loops.
let numericFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-target-cpu", targetCPU],
                 .when(configuration: .release)),
]

/// The interpreter keeps Swift's overflow and bounds checks but drops the run-time exclusivity
/// checks on its class properties (a few percent of every call and variable access).
let interpreterFlags: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Loupe",
    products: [
        .executable(name: "loupe", targets: ["loupe"]),
        .library(name: "LoupeTensor", targets: ["LoupeTensor"]),
        .library(name: "LoupeIO", targets: ["LoupeIO"]),
        .library(name: "LoupeModels", targets: ["LoupeModels"]),
        .library(name: "LoupeInputOptimization", targets: ["LoupeInputOptimization"]),
        .library(name: "LoupeInversion", targets: ["LoupeInversion"]),
        .library(name: "LoupeVisualization", targets: ["LoupeVisualization"]),
        .library(name: "LoupePainting", targets: ["LoupePainting"]),
        .library(name: "LoupeGrafting", targets: ["LoupeGrafting"]),
        .library(name: "LoupeScript", targets: ["LoupeScript"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 of the files a session reads (LoupeIO.FileDigest).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // System-library shims.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),

        // Cores, each importing only those before it.
        .target(name: "LoupeTensor", dependencies: ["CBLAS"], swiftSettings: numericFlags),
        .target(name: "LoupeIO", dependencies: ["LoupeTensor", "CPNG", "CZlib", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: numericFlags),
        .target(name: "LoupeModels", dependencies: ["LoupeTensor", "LoupeIO"], swiftSettings: numericFlags),
        .target(name: "LoupeInputOptimization", dependencies: ["LoupeTensor", "LoupeModels"], swiftSettings: numericFlags),
        .target(name: "LoupeInversion", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization"], swiftSettings: numericFlags),
        .target(name: "LoupeVisualization", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization"], swiftSettings: numericFlags),
        .target(name: "LoupePainting", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization"], swiftSettings: numericFlags),
        .target(name: "LoupeGrafting", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels"], swiftSettings: numericFlags),
        .target(name: "LoupeScript", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization", "LoupeInversion", "LoupeVisualization", "LoupePainting", "LoupeGrafting"],
                swiftSettings: interpreterFlags),
        .executableTarget(
            name: "loupe",
            dependencies: [
                "LoupeTensor", "LoupeScript", "CEditLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Benchmarks (Scripts/bench) and fuzz targets (Scripts/fuzz).
        .executableTarget(name: "loupe-bench", dependencies: ["LoupeTensor", "LoupeModels", "LoupeInputOptimization", "LoupeInversion", "LoupeVisualization", "LoupePainting", "LoupeGrafting", "CBLAS"], swiftSettings: numericFlags),
        .executableTarget(name: "loupe-fuzz", dependencies: ["LoupeTensor", "LoupeIO", "LoupeScript"]),

        // Fixture loading and numeric assertions shared by the test targets.
        .target(name: "LoupeTestSupport", dependencies: ["LoupeTensor"], path: "Tests/LoupeTestSupport"),
        // A model with several inputs and a record output, for the models and language tests.
        .target(name: "LoupeModelsTestSupport", dependencies: ["LoupeTensor", "LoupeModels"], path: "Tests/LoupeModelsTestSupport"),
        .testTarget(name: "LoupeTensorTests", dependencies: ["LoupeTensor", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeModelsTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeTestSupport", "LoupeModelsTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeInputOptimizationTests", dependencies: ["LoupeTensor", "LoupeModels", "LoupeInputOptimization", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeInversionTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization", "LoupeInversion", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeVisualizationTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization", "LoupeVisualization", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupePaintingTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeInputOptimization", "LoupePainting", "LoupeTestSupport"]),
        .testTarget(name: "LoupeGraftingTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeModels", "LoupeGrafting", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeIOTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoupeScriptTests", dependencies: ["LoupeTensor", "LoupeModels", "LoupeInversion", "LoupeScript", "LoupeModelsTestSupport"], exclude: ["Scripts", "TestCoreScripts"]),
        .testTarget(name: "LoupeCLITests", dependencies: ["loupe"]),
    ],
    swiftLanguageModes: [.v5]
)
