// expect: cannot convert value of type 'String' to expected argument type 'MLParameterKey'
// parameterValue(for:) takes an MLParameterKey, not the dotted name results.json uses.
import CoreML

func dump(_ model: MLModel) throws -> Any {
    try model.parameterValue(for: "dense.weights")
}
