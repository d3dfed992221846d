// Apple APIs used in this file (review list; minimum OS that introduced each):
// - SwiftUI `App`, `Scene`, `WindowGroup`, `@StateObject` (iOS 14); `.task(_:)` view modifier (iOS 15)
import SwiftUI

/// The companion app: one screen, one job per launch (`--job <id>` or `MLHARNESS_JOB`), results in the outbox.
@main
struct MLHarnessCompanionApp: App {
    @StateObject private var controller = JobController()

    var body: some Scene {
        WindowGroup {
            JobView(controller: controller)
                .task { await controller.runLaunchJob() }
        }
    }
}
