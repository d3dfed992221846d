// Correct uses of the declared APIs, the way the runner uses them. It must type-check (Swift 6, warnings as
// errors) against the shims; each wrong-*.swift beside it is this kind of code with one deliberate mistake.
// Some lines only compile if the shims keep Apple's facts: the progress handler below mutates captured state,
// which a `@Sendable` handler would refuse.
@preconcurrency import CoreML
import CompanionCoreML
import Foundation
import os

func updateOnce(compiled: URL, batch: MLArrayBatchProvider) throws -> MLUpdateTask {
    let configuration = MLModelConfiguration()
    configuration.computeUnits = .cpuOnly
    configuration.parameters = [MLParameterKey.learningRate: 0.01, .epochs: 2]
    final class Counter { var events = 0 }
    let counter = Counter()
    let handlers = MLUpdateProgressHandlers(
        forEvents: [.epochEnd, .miniBatchEnd],
        progressHandler: { context in
            counter.events += 1
            let loss = context.metrics[.lossValue] as? Double
            if context.event == .epochEnd, let loss, loss > 10 {
                context.task.resume(withParameters: [.learningRate: 0.001])
            }
        },
        completionHandler: { context in
            do {
                let key = MLParameterKey.weights.scoped(to: "dense")
                _ = try context.model.parameterValue(for: key) as? MLMultiArray
                try context.model.write(to: URL(fileURLWithPath: "/tmp/Updated.mlmodelc"))
            } catch {
                Logger(subsystem: "org.mlupdate.companion", category: "fixture").error(
                    "\(counter.events) events, then \(error.localizedDescription, privacy: .public)")
            }
        })
    return try MLUpdateTask(
        forModelAt: compiled, trainingData: batch, configuration: configuration, progressHandlers: handlers)
}

func load(compiled: URL) async throws -> Double {
    let url = try await MLModel.compileModel(at: compiled)
    let model = try MLModel(contentsOf: url, configuration: MLModelConfiguration())
    switch model.modelDescription.outputDescriptionsByName["probs"]?.type {
    case .dictionary?: return 1
    default: return 0
    }
}

// The runner module was really compiled against the shims (it is empty where CoreML cannot be imported).
let runner = CoreMLJobRunner(producer: .companionMacOS)
