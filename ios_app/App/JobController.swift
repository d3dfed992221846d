// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `FileManager.urls(for:in:)` with `.documentDirectory` (iOS 8)
// - `UIApplication.shared.isIdleTimerDisabled` (iOS 2): keeps the screen awake so iOS does not suspend training
// - `os.Logger.init(subsystem:category:)` (iOS 14)
// - `ProcessInfo.arguments`, `.environment` (iOS 2); Combine `ObservableObject`, `@Published` (iOS 13)
#if canImport(CompanionKit)
    import CompanionKit
#endif
#if canImport(CompanionCoreML)
    import CompanionCoreML
#endif
import Foundation
import os
import SwiftUI
import UIKit

/// Finds the job named at launch, runs it with Core ML and publishes the results bundle; the view observes it.
@MainActor
final class JobController: ObservableObject {
    enum Phase: Equatable {
        case idle
        case running
        case finished(status: String, resultsPath: String)
        case refused(String)
        case failed(String)
    }

    @Published private(set) var jobID: String?
    @Published private(set) var phase: Phase = .idle
    @Published private(set) var stage = ""
    @Published private(set) var task = 0
    @Published private(set) var taskCount = 0
    @Published private(set) var lastEvent: ProgressEvent?

    private let logger = Logger(subsystem: "org.mlupdate.companion", category: "app")
    private let runner = CoreMLJobRunner(producer: .companionIOS)

    /// The job id from `--job <id>`, else `MLHARNESS_JOB`, else `nil` (idle screen).
    static func launchJobID(arguments: [String], environment: [String: String]) -> String? {
        if let flag = arguments.firstIndex(of: "--job"), arguments.indices.contains(flag + 1) {
            return arguments[flag + 1]
        }
        return environment["MLHARNESS_JOB"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func runLaunchJob() async {
        let info = ProcessInfo.processInfo
        guard phase == .idle, let id = Self.launchJobID(arguments: info.arguments, environment: info.environment) else {
            return
        }
        await run(jobID: id)
    }

    private func run(jobID id: String) async {
        jobID = id
        guard JobID.isValid(id) else {
            phase = .refused("'\(id)' is not a valid job id")
            return
        }
        guard let documents = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask).first else {
            phase = .failed("the app has no Documents folder")
            return
        }
        let info = ProcessInfo.processInfo
        let folders: DeviceFolders
        do {
            let run = DeviceFolders.launchRun(arguments: info.arguments, environment: info.environment)
            folders = try DeviceFolders(documents: documents, run: run)
        } catch {
            phase = .refused(error.description)
            return
        }
        let inbox = folders.inbox(jobID: id)
        let outbox = folders.outbox
        phase = .running
        UIApplication.shared.isIdleTimerDisabled = true
        defer { UIApplication.shared.isIdleTimerDisabled = false }
        logger.info("job \(id, privacy: .public): starting")
        let job: JobBundle
        do {
            job = try JobBundle.open(at: inbox, expectedJobID: id)
        } catch {
            logger.error("job \(id, privacy: .public) refused: \(error.description, privacy: .public)")
            phase = .refused(error.description)
            publishRefusal(jobID: id, refusal: error, outbox: outbox)
            return
        }
        do {
            let results = try await runner.run(job, outbox: outbox) { update in
                Task { @MainActor [weak self] in self?.show(update) }
            }
            let status: String
            do {
                status = try ResultsBundle.open(at: results, expectedJobID: id).manifest.status.rawValue
            } catch {
                status = "unreadable results (\(error.description))"
            }
            phase = .finished(status: status, resultsPath: results.path)
            logger.info("job \(id, privacy: .public): \(status, privacy: .public)")
        } catch {
            logger.error("job \(id, privacy: .public) failed: \(String(describing: error), privacy: .public)")
            phase = .failed(String(describing: error))
        }
    }

    private func publishRefusal(jobID id: String, refusal: CompanionError, outbox: URL) {
        do {
            _ = try runner.publishRefusal(jobID: id, error: refusal, outbox: outbox)
        } catch {
            logger.error(
                "job \(id, privacy: .public): could not publish the refusal: \(error.localizedDescription, privacy: .public)"
            )
        }
    }

    private func show(_ update: RunnerUpdate) {
        stage = update.stage.rawValue
        task = update.task
        taskCount = update.taskCount
        if let event = update.event { lastEvent = event }
    }
}
