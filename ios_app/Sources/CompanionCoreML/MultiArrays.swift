// Apple APIs used in this file (review list; minimum OS that introduced each):
// - `MLMultiArray.init(shape:dataType:)` (iOS 11 / macOS 10.13)
// - `MLMultiArray.shape`, `.strides`, `.dataType` (iOS 11 / macOS 10.13)
// - `MLMultiArrayDataType.float32`, `.double`, `.int32` (iOS 11 / macOS 10.13)
// - `MLMultiArray.withUnsafeMutableBufferPointer(ofType:_:)`, `withUnsafeBufferPointer(ofType:_:)`
//   (iOS 15.4 / macOS 12.3)
#if canImport(CoreML)
    #if canImport(CompanionKit)
        // The app target compiles CompanionKit into the same module; SwiftPM builds it as its own module.
        import CompanionKit
    #endif
    @preconcurrency import CoreML
    import Foundation

    /// Copies between CompanionKit's `.npy` arrays and Core ML's `MLMultiArray`, honouring the array's strides
    /// (Core ML may pad rows, so C-order index `i` is not always buffer offset `i`).
    enum MultiArrays {
        /// One example (`values[start ..< start + count(shape)]`) as an `MLMultiArray` of the file's element type.
        static func make(shape: [Int], from storage: NpyArray.Storage, start: Int) throws -> MLMultiArray {
            let nsShape = shape.map { NSNumber(value: $0) }
            switch storage {
            case let .float32(values):
                let array = try MLMultiArray(shape: nsShape, dataType: .float32)
                try fill(array, shape: shape, type: Float.self) { values[start + $0] }
                return array
            case let .float64(values):
                let array = try MLMultiArray(shape: nsShape, dataType: .double)
                try fill(array, shape: shape, type: Double.self) { values[start + $0] }
                return array
            case let .int32(values):
                let array = try MLMultiArray(shape: nsShape, dataType: .int32)
                try fill(array, shape: shape, type: Int32.self) { values[start + $0] }
                return array
            case .int64:
                throw CompanionError.invalidNpy(path: "(feature)", reason: "int64 tensors cannot feed an MLMultiArray")
            }
        }

        private static func fill<Scalar: MLShapedArrayScalar>(
            _ array: MLMultiArray, shape: [Int], type: Scalar.Type, value: (Int) -> Scalar
        ) throws {
            try array.withUnsafeMutableBufferPointer(ofType: type) { buffer, strides in
                let offsets = StridedLayout.offsets(shape: shape, strides: strides)
                guard offsets.allSatisfy({ $0 >= 0 && $0 < buffer.count }) else {
                    throw CompanionError.invalidNpy(
                        path: "(MLMultiArray)", reason: "strides \(strides) exceed the buffer")
                }
                for (index, offset) in offsets.enumerated() {
                    buffer[offset] = value(index)
                }
            }
        }

        /// The array's shape and its values in C order, as float32 (the contract's type for dumps and probes).
        static func floats(of array: MLMultiArray) throws -> (shape: [Int], values: [Float]) {
            let shape = array.shape.map(\.intValue)
            let offsets = StridedLayout.offsets(shape: shape, strides: array.strides.map(\.intValue))
            switch array.dataType {
            case .float32:
                return (shape, try read(array, offsets: offsets, type: Float.self) { $0 })
            case .double:
                return (shape, try read(array, offsets: offsets, type: Double.self) { Float($0) })
            case .int32:
                return (shape, try read(array, offsets: offsets, type: Int32.self) { Float($0) })
            default:
                throw CompanionError.invalidNpy(
                    path: "(MLMultiArray)",
                    reason: "data type \(array.dataType.rawValue) is not float32, double or int32"
                )
            }
        }

        private static func read<Scalar: MLShapedArrayScalar>(
            _ array: MLMultiArray, offsets: [Int], type: Scalar.Type, convert: (Scalar) -> Float
        ) throws -> [Float] {
            try array.withUnsafeBufferPointer(ofType: type) { buffer in
                guard offsets.allSatisfy({ $0 >= 0 && $0 < buffer.count }) else {
                    throw CompanionError.invalidNpy(path: "(MLMultiArray)", reason: "strides exceed the buffer")
                }
                return offsets.map { convert(buffer[$0]) }
            }
        }
    }
#endif
