// expect: argument passed to call that takes no arguments
// resume(withParameters:) belongs to MLUpdateTask, not to the MLTask base class.
import CoreML

func changeRate(_ task: MLTask) {
    task.resume(withParameters: [.learningRate: 0.001])
}
