// swift-tools-version: 6.0
// Type-check only, never shipped: compiles the Core ML runner (`CompanionCoreML`) and `companion-macos` on Linux
// against hand-written declarations of the Apple APIs they use (`Shims/`: CoreML, CoreVideo, os and the Darwin
// calls), in Swift 6 language mode with warnings as errors. `Checked/` holds symbolic links to the real sources,
// so what is checked is exactly what ships. See README.md for what this catches and what it cannot.
//
// To check another source folder (an XCTest target, say): link it under `Checked/`, add a target below that
// depends on the shims it imports, and extend the shims with the declarations it needs (from Apple's
// documentation, signatures only).
import PackageDescription

// The shims are built like Apple's binary frameworks: library evolution makes their enums non-frozen, as an
// imported NS_ENUM is, so a `switch` over MLFeatureType needs a default. Their own warnings are silenced: library
// evolution over Linux Foundation (built without it) warns by design. The checked targets turn warnings into errors.
let shimSettings: [SwiftSetting] = [.unsafeFlags(["-enable-library-evolution", "-suppress-warnings"])]
let checkedSettings: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "CompanionTypeCheck",
    products: [
        .library(name: "AppleShims", targets: ["CoreML", "CoreVideo", "os", "Darwin", "ObjectiveC", "XCTest"])
    ],
    targets: [
        .target(name: "CoreVideo", path: "Shims/CoreVideo", swiftSettings: shimSettings),
        .target(name: "CoreML", dependencies: ["CoreVideo"], path: "Shims/CoreML", swiftSettings: shimSettings),
        .target(name: "os", path: "Shims/os", swiftSettings: shimSettings),
        .target(name: "ObjectiveC", path: "Shims/ObjectiveC", swiftSettings: shimSettings),
        // Named like Apple's framework, so it is found before the toolchain's swift-corelibs-xctest. Its class
        // XCTest shares the module's name, which the textual interface cannot spell unambiguously: that interface
        // (unused, the checked targets read the binary module) is not verified.
        .target(
            name: "XCTest", dependencies: ["ObjectiveC"], path: "Shims/XCTest",
            swiftSettings: shimSettings + [.unsafeFlags(["-no-verify-emitted-module-interface"])]),
        // Like an imported C module, not concurrency-checked itself: its mutable globals are refused where used.
        .target(
            name: "Darwin", path: "Shims/Darwin",
            swiftSettings: shimSettings + [.swiftLanguageMode(.v5)]),
        .target(name: "CompanionKit", path: "Checked/CompanionKit", swiftSettings: checkedSettings),
        .target(
            name: "CompanionCoreML", dependencies: ["CompanionKit", "CoreML", "os", "Darwin", "ObjectiveC"],
            path: "Checked/CompanionCoreML", swiftSettings: checkedSettings),
        // The XCTest job cases hosted in the app (ios_app/JobTests): every line, the Objective-C runtime calls too.
        .target(
            name: "JobTests", dependencies: ["CompanionKit", "CompanionCoreML", "XCTest", "ObjectiveC"],
            path: "Checked/JobTests", swiftSettings: checkedSettings),
        .executableTarget(
            name: "companion-macos", dependencies: ["CompanionKit", "CompanionCoreML", "CoreML"],
            path: "Checked/companion-macos", swiftSettings: checkedSettings),
    ],
    swiftLanguageModes: [.v6]
)
