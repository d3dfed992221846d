// swift-tools-version: 6.0
// The companion app's Swift package. CompanionKit and companion-cli are portable (Linux and macOS, `swift test`);
// CompanionCoreML and companion-macos compile to nothing where Core ML is missing. No outside packages.
import PackageDescription

let package = Package(
    name: "MLHarnessCompanion",
    platforms: [.macOS(.v13), .iOS(.v16)],
    products: [
        .library(name: "CompanionKit", targets: ["CompanionKit"]),
        .library(name: "CompanionCoreML", targets: ["CompanionCoreML"]),
        .executable(name: "companion-cli", targets: ["companion-cli"]),
        .executable(name: "companion-macos", targets: ["companion-macos"]),
    ],
    targets: [
        .target(name: "CompanionKit"),
        .target(name: "CompanionCoreML", dependencies: ["CompanionKit"]),
        .executableTarget(name: "companion-cli", dependencies: ["CompanionKit"]),
        .executableTarget(name: "companion-macos", dependencies: ["CompanionKit", "CompanionCoreML"]),
        .testTarget(name: "CompanionKitTests", dependencies: ["CompanionKit"]),
    ],
    swiftLanguageModes: [.v6]
)
