// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `XCTestCase.defaultTestSuite` (class property, overridable), `XCTestCase.init(selector:)`,
//   `XCTestSuite.init(name:)`, `addTest(_:)` (iOS 2 / macOS 10.5 with XCTest)
// - `XCTAttachment.init(contentsOfFile:)`, `.name`, `.lifetime = .keepAlways`, `XCTestCase.add(_:)`
//   (iOS 11 / macOS 10.13)
// - `XCTFail(_:file:line:)`
// - ObjectiveC runtime: `class_addMethod(_:_:_:_:)`, `imp_implementationWithBlock(_:)`; Foundation:
//   `NSSelectorFromString(_:)`, `Bundle.init(for:)`, `resourceURL`; `RunLoop.run(until:)`
#if canImport(MLHarnessCompanion)
    // The host app compiles CompanionKit and the Core ML runner into its own module.
    import MLHarnessCompanion
#else
    import CompanionCoreML
    import CompanionKit
#endif
import Foundation
import ObjectiveC
import XCTest

/// One test case per job bundle this test bundle carries (`Jobs/<job id>/` among its resources, copied there by
/// `mlharness package`): `MLHarnessJobTests/test_<job id>` runs the job with the app's own `CoreMLJobRunner`
/// inside the host app, and attaches the sealed results bundle, zipped, as `mlharness-results-<job id>`.
///
/// A case fails only on a harness error (no sealed bundle could be made, or none came in time). A failed or
/// badly trained run is a result like any other: parity is decided on the host, from the attachment.
///
/// Job ids contain `-` and `.`, which Swift method names cannot, so the cases are added at run time: one method
/// per carried job, named after it, all calling `runCarriedJob(_:)`. XCTest names a case (in the `.xcresult`
/// and for `-only-testing:`) after its method, never after `XCTestCase.name`.
final class MLHarnessJobTests: XCTestCase {
    /// Seconds a case may wait beyond the job's own deadline × repeat: compiling, loading, dumping, zipping.
    static let graceSeconds = 300.0

    private var carried: CarriedJob?

    override class var defaultTestSuite: XCTestSuite {
        let suite = XCTestSuite(name: JobCases.testClass)
        let jobs: [CarriedJob]
        do {
            jobs = try JobCases.carried(
                in: Bundle(for: MLHarnessJobTests.self).resourceURL ?? URL(fileURLWithPath: "/"))
        } catch {
            suite.addTest(failingCase(named: "test_carriedJobs", reason: error.description))
            return suite
        }
        for job in jobs {
            let test = addCase(named: job.caseName) { test in test.runCarriedJob() }
            test.carried = job
            suite.addTest(test)
        }
        return suite
    }

    /// A case that fails with `reason`: the test bundle itself is broken, and the run must say so.
    private static func failingCase(named name: String, reason: String) -> MLHarnessJobTests {
        addCase(named: name) { _ in XCTFail("the job bundles this test bundle carries cannot be read: \(reason)") }
    }

    /// Adds the method `name` to this class, running `body`, and returns a test case for it.
    private static func addCase(named name: String, _ body: @escaping (MLHarnessJobTests) -> Void) -> MLHarnessJobTests
    {
        let selector = NSSelectorFromString(name)
        let implementation: @convention(block) (AnyObject) -> Void = { receiver in
            guard let test = receiver as? MLHarnessJobTests else { return }
            body(test)
        }
        // The block object itself, not a Swift box around it; "v@:": returns void, takes self and the selector.
        let block = unsafeBitCast(implementation, to: AnyObject.self)
        _ = class_addMethod(self, selector, imp_implementationWithBlock(block), "v@:")
        return MLHarnessJobTests(selector: selector)
    }

    private func runCarriedJob() {
        guard let job = carried else {
            XCTFail("no job is attached to this case")
            return
        }
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mlharness-case-\(UUID().uuidString)")
        let outcome = CaseOutcome()
        let deadline = Date().addingTimeInterval(Self.deadlineSeconds(for: job))
        Task.detached {
            do {
                outcome.finish(.success(try await job.run(with: CoreMLCaseRunner(), workspace: workspace)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        // Spin the run loop rather than block the main thread: XCTest and the host app keep running.
        while outcome.result == nil, Date() < deadline {
            _ = RunLoop.current.run(mode: .default, before: min(deadline, Date().addingTimeInterval(0.2)))
        }
        switch outcome.result {
        case let .success(archive)?:
            let attachment = XCTAttachment(contentsOfFile: archive)
            attachment.name = job.attachmentName
            attachment.lifetime = .keepAlways
            add(attachment)
        case let .failure(error)?:
            XCTFail("harness error in job \(job.jobID): \(error)")
        case nil:
            XCTFail("job \(job.jobID): no sealed results after \(Int(Self.deadlineSeconds(for: job))) s")
        }
    }

    /// The job's own deadline for every repeat, plus the grace; a job that cannot be read gets the grace alone.
    private static func deadlineSeconds(for job: CarriedJob) -> Double {
        guard let manifest = try? JobBundle.open(at: job.folder, expectedJobID: job.jobID).manifest else {
            return graceSeconds
        }
        return manifest.deadlineSeconds * Double(manifest.repeatCount) + graceSeconds
    }
}

/// The app's runner as the cases use it: progress goes nowhere, the results bundle is what counts.
struct CoreMLCaseRunner: JobCaseRunner {
    private let runner = CoreMLJobRunner(producer: .companionIOS)

    func run(_ job: JobBundle, outbox: URL) async throws -> URL {
        try await runner.run(job, outbox: outbox) { _ in }
    }

    func publishRefusal(jobID: String, error: CompanionError, outbox: URL) throws -> URL {
        try runner.publishRefusal(jobID: jobID, error: error, outbox: outbox)
    }
}

/// How a case's detached run ended, read by the case on the main thread.
final class CaseOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<URL, any Error>?

    var result: Result<URL, any Error>? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func finish(_ result: Result<URL, any Error>) {
        lock.lock()
        defer { lock.unlock() }
        stored = result
    }
}
