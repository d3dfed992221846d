/// Where each element of a C-order array lives in a strided buffer (Core ML's `MLMultiArray` may pad rows, so
/// element `i` in C order is not necessarily at offset `i`).
public enum StridedLayout {
    /// Buffer offsets of every element, in C order, for `shape` and per-dimension `strides` (in elements).
    public static func offsets(shape: [Int], strides: [Int]) -> [Int] {
        precondition(shape.count == strides.count, "shape and strides must have one entry per dimension")
        var offsets = [0]
        for (size, stride) in zip(shape, strides) {
            offsets = offsets.flatMap { base in (0..<size).map { base + $0 * stride } }
        }
        return offsets
    }

    /// The strides of a dense C-order array of `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }
}
