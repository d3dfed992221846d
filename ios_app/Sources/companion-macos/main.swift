// companion-macos: runs a job bundle with Core ML on a Mac, without a Simulator, and publishes the results
// bundle exactly as the app does (producer "companion-macos").
//
//   companion-macos JOB_DIR --out OUTBOX
//
// Exit codes: 0 results published (whatever the training status), 1 the job bundle was refused (a `failed`
// results bundle naming the refusal is published too, as the app does, when the folder's name is a valid job id),
// 2 usage error or the results could not be written. The harness drives it as the `mac` target kind.

import Foundation

#if canImport(CoreML)
    import CompanionCoreML
    import CompanionKit

    func runJob(_ arguments: [String]) async -> Int32 {
        guard arguments.count == 3, arguments[1] == "--out" else {
            FileHandle.standardError.write(Data("usage: companion-macos JOB_DIR --out OUTBOX\n".utf8))
            return 2
        }
        let jobURL = URL(fileURLWithPath: arguments[0])
        let outbox = URL(fileURLWithPath: arguments[2])
        let runner = CoreMLJobRunner(producer: .companionMacOS)
        let job: JobBundle
        do {
            job = try JobBundle.open(at: jobURL)
        } catch {
            FileHandle.standardError.write(Data("refused: \(error.kind): \(error)\n".utf8))
            let jobID = jobURL.lastPathComponent
            if JobID.isValid(jobID) {
                // The host then reads the reason from a results bundle instead of only from this process's output.
                _ = try? runner.publishRefusal(jobID: jobID, error: error, outbox: outbox)
            }
            return 1
        }
        do {
            let results = try await runner.run(job, outbox: outbox) { update in
                if let event = update.event {
                    let loss = event.loss.map { String($0) } ?? "-"
                    print(
                        "task \(update.task + 1)/\(update.taskCount) \(event.event.rawValue) epoch \(event.epoch ?? -1) loss \(loss)"
                    )
                } else {
                    print("task \(update.task + 1)/\(update.taskCount) \(update.stage.rawValue)")
                }
            }
            print(results.path)
            return 0
        } catch {
            FileHandle.standardError.write(Data("companion-macos: could not publish the results: \(error)\n".utf8))
            return 2
        }
    }

    exit(await runJob(Array(CommandLine.arguments.dropFirst())))
#else
    FileHandle.standardError.write(
        Data("companion-macos needs Core ML (macOS 13 or later); use companion-cli here\n".utf8))
    exit(2)
#endif
