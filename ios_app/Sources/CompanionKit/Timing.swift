import Foundation

/// Measures elapsed time on a monotonic clock. `ContinuousClock` keeps counting while the device sleeps, so a
/// training run interrupted by a locked screen is not reported shorter than it was.
public struct Stopwatch: Sendable {
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    public init() {
        start = clock.now
    }

    public var elapsedSeconds: Double {
        Self.seconds(start.duration(to: clock.now))
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// Runs `body` and returns its value with the seconds it took.
public func timed<Value, Failure: Error>(
    _ body: () throws(Failure) -> Value
) throws(Failure) -> (value: Value, seconds: Double) {
    let stopwatch = Stopwatch()
    let value = try body()
    return (value, stopwatch.elapsedSeconds)
}

/// A point in time after which work must stop (the job's `deadline_seconds`).
public struct Deadline: Sendable {
    private let stopwatch = Stopwatch()
    public let seconds: Double

    public init(seconds: Double) {
        self.seconds = seconds
    }

    public var hasPassed: Bool {
        stopwatch.elapsedSeconds >= seconds
    }

    public var remainingSeconds: Double {
        max(0, seconds - stopwatch.elapsedSeconds)
    }
}
