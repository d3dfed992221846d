// Apple APIs used in this file (review list; minimum OS that introduced each):
// - SwiftUI `View`, `NavigationStack` (iOS 16), `List`, `Section`, `LabeledContent` (iOS 16), `ProgressView` (iOS 14),
//   `@ObservedObject` (iOS 13)
#if canImport(CompanionKit)
    import CompanionKit
#endif
import SwiftUI

/// The one screen: which job, how far it is, and how it ended.
struct JobView: View {
    @ObservedObject var controller: JobController

    var body: some View {
        NavigationStack {
            List {
                Section("Job") {
                    LabeledContent("Job id", value: controller.jobID ?? "none (idle)")
                    LabeledContent("State", value: stateText)
                }
                if controller.phase == .running {
                    Section("Progress") {
                        LabeledContent("Task", value: "\(controller.task + 1) of \(controller.taskCount)")
                        LabeledContent("Stage", value: controller.stage)
                        if let event = controller.lastEvent {
                            LabeledContent("Last event", value: event.event.rawValue)
                            LabeledContent("Epoch", value: event.epoch.map(String.init) ?? "-")
                            LabeledContent("Loss", value: event.loss.map { String(format: "%.6g", $0) } ?? "-")
                        }
                        ProgressView()
                    }
                }
                if let detail = detailText {
                    Section("Details") {
                        Text(detail).font(.footnote.monospaced()).textSelection(.enabled)
                    }
                }
            }
            .navigationTitle("MLHarness Companion")
        }
    }

    private var stateText: String {
        switch controller.phase {
        case .idle: "waiting for a job (launch with --job <id>)"
        case .running: "training"
        case let .finished(status, _): "finished: \(status)"
        case .refused: "job refused"
        case .failed: "failed"
        }
    }

    private var detailText: String? {
        switch controller.phase {
        case .idle, .running: nil
        case let .finished(_, path): path
        case let .refused(message), let .failed(message): message
        }
    }
}
