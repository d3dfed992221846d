// expect: may have additional unknown values
// MLFeatureType is an imported NS_ENUM, open to new cases: a switch without a default is refused.
import CoreML

func isArray(_ type: MLFeatureType) -> Bool {
    switch type {
    case .invalid, .int64, .double, .string, .image, .dictionary, .sequence, .state: return false
    case .multiArray: return true
    }
}
