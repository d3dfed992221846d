// Type-check shim of the CoreVideo subset that Core ML's signatures mention. Hand-written from Apple's public
// documentation (signatures only; no SDK file was copied). Never linked into anything that runs.
//
// Facts kept from the SDK: CVPixelBuffer is a Core Foundation type imported as a class (`CVBuffer`), not
// Sendable; OSType is MacTypes' `FourCharCode` (UInt32).

public typealias FourCharCode = UInt32
public typealias OSType = FourCharCode

/// `CVBuffer` (CF type). `CVImageBuffer` and `CVPixelBuffer` are typealiases of it in the SDK too.
public final class CVBuffer {
    private init() { shimOnly() }
}
public typealias CVImageBuffer = CVBuffer
public typealias CVPixelBuffer = CVImageBuffer

public func CVPixelBufferGetWidth(_ pixelBuffer: CVPixelBuffer) -> Int { shimOnly() }
public func CVPixelBufferGetHeight(_ pixelBuffer: CVPixelBuffer) -> Int { shimOnly() }
public func CVPixelBufferGetPixelFormatType(_ pixelBuffer: CVPixelBuffer) -> OSType { shimOnly() }

public var kCVPixelFormatType_32BGRA: OSType { shimOnly() }
public var kCVPixelFormatType_OneComponent8: OSType { shimOnly() }

func shimOnly() -> Never {
    fatalError("type-check shim: CoreVideo does not exist on this platform")
}
