// Apple APIs used in this file (review list; minimum OS that introduced each):
// - Foundation `NSError` bridging of `Error` (`domain`, `code`, `localizedDescription`) (iOS 2 / macOS 10.0)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    import Foundation

    /// A failure of one phase of a run, carrying the contract's error object for `results.json`.
    struct RunFailure: Error {
        let error: RunError

        init(_ phase: RunPhase, _ underlying: any Error) {
            if let companion = underlying as? CompanionError {
                error = RunError(
                    phase: phase, domain: "org.mlupdate.companion", code: 0, message: companion.description)
            } else if let failure = underlying as? RunFailure {
                error = failure.error
            } else {
                let bridged = underlying as NSError
                error = RunError(
                    phase: phase, domain: bridged.domain, code: bridged.code,
                    message: bridged.localizedDescription)
            }
        }

        init(_ phase: RunPhase, message: String) {
            error = RunError(phase: phase, domain: "org.mlupdate.companion", code: 0, message: message)
        }
    }

    extension Error {
        /// The contract's error object for an error that reached the top of a phase.
        var runError: RunError {
            (self as? RunFailure)?.error ?? RunFailure(.prepare, self).error
        }
    }

    /// Runs `body`, turning any error into a `RunFailure` of `phase`.
    func inPhase<Value>(_ phase: RunPhase, _ body: () throws -> Value) throws(RunFailure) -> Value {
        do {
            return try body()
        } catch {
            throw RunFailure(phase, error)
        }
    }
#endif
