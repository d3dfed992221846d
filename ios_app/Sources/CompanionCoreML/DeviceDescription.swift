// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `ProcessInfo.operatingSystemVersion` (iOS 8 / macOS 10.10), `.environment`, `.hostName` (iOS 2 / macOS 10.0)
// - Darwin `sysctlbyname(_:_:_:_:_:)` for `hw.machine`, `hw.model`, `kern.osversion` and
//   `machdep.cpu.brand_string` (all OS versions)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    import Darwin
    import Foundation

    /// The `device` object of `results.json` for the machine this process runs on.
    public enum DeviceDescription {
        public static func current() -> DeviceInfo {
            let info = ProcessInfo.processInfo
            let version = info.operatingSystemVersion
            let osVersion = "\(version.majorVersion).\(version.minorVersion).\(version.patchVersion)"
            #if targetEnvironment(simulator)
                // The Simulator reports the Mac's hardware; the simulated model is in the environment.
                let model = info.environment["SIMULATOR_MODEL_IDENTIFIER"] ?? sysctlString("hw.machine") ?? "unknown"
                let name = info.environment["SIMULATOR_DEVICE_NAME"] ?? model
                return DeviceInfo(
                    name: name, model: model, osName: osName, osVersion: osVersion,
                    osBuild: sysctlString("kern.osversion") ?? "", isSimulator: true,
                    chip: sysctlString("machdep.cpu.brand_string"), host: info.hostName)
            #else
                let model = sysctlString(osName == "macOS" ? "hw.model" : "hw.machine") ?? "unknown"
                return DeviceInfo(
                    name: model, model: model, osName: osName, osVersion: osVersion,
                    osBuild: sysctlString("kern.osversion") ?? "", isSimulator: false,
                    chip: sysctlString("machdep.cpu.brand_string"), host: nil)
            #endif
        }

        private static var osName: String {
            #if os(iOS)
                "iOS"
            #elseif os(macOS)
                "macOS"
            #else
                "unknown"
            #endif
        }

        /// A string sysctl value, or `nil` when the name does not exist on this OS.
        static func sysctlString(_ name: String) -> String? {
            var size = 0
            guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
            var buffer = [CChar](repeating: 0, count: size)
            guard sysctlbyname(name, &buffer, &size, nil, 0) == 0 else { return nil }
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
#endif
