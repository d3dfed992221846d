// expect: call can throw, but it is not marked with 'try'
// Loading a model throws (Objective-C NSError out-parameter imported as `throws`).
import CoreML
import Foundation

func load(_ url: URL) -> MLModel {
    MLModel(contentsOf: url, configuration: MLModelConfiguration())
}
