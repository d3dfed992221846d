// expect: non-Sendable type 'MLModel'
// MLModel is not Sendable: handing the loaded model to another queue is refused in Swift 6.
import CoreML
import Foundation

func reloadElsewhere(model: MLModel) {
    DispatchQueue.global().async {
        _ = model.modelDescription
    }
}
