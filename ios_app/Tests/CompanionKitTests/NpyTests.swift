@testable import CompanionKit
import Foundation
import XCTest

final class NpyTests: XCTestCase {
    /// Files written by numpy 2.x `np.save` (base64), one per dtype the contract allows.
    private let numpyFiles: [(dtype: NpyDType, shape: [Int], base64: String, values: [Double])] = [
        (
            .float32, [2, 3],
            "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=",
            [0, 0.25, 0.5, 0.75, 1, 1.25]
        ),
        (
            .float64, [2],
            "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAALA",
            [1.5, -2.25]
        ),
        (
            .int32, [2, 2],
            "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAA/v///wMAAAD///9/",
            [1, -2, 3, 2_147_483_647]
        ),
        (
            .int64, [2],
            "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAP///wcAAAAAAAAA",
            [-1_099_511_627_776, 7]
        ),
        (
            .float32, [],
            "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAGBA",
            [3.5]
        ),
    ]

    func testReadsEveryDTypeNumpyWrites() throws {
        for file in numpyFiles {
            let array = try NpyArray.decode(try XCTUnwrap(Data(base64Encoded: file.base64)), path: "numpy.npy")
            XCTAssertEqual(array.dtype, file.dtype)
            XCTAssertEqual(array.shape, file.shape)
            XCTAssertEqual(array.doubles, file.values)
        }
    }

    func testWritesTheSameBytesAsNumpy() throws {
        for file in numpyFiles {
            let numpyBytes = try XCTUnwrap(Data(base64Encoded: file.base64))
            let array = try NpyArray.decode(numpyBytes, path: "numpy.npy")
            XCTAssertEqual(array.encoded(), numpyBytes, "\(file.dtype) \(file.shape)")
        }
    }

    func testRoundTripsEveryStorageAndShape() throws {
        let arrays = try [
            NpyArray(
                shape: [3, 1, 2], storage: .float32([1, -0, .infinity, -.infinity, .leastNonzeroMagnitude, 1e30])),
            NpyArray(shape: [0, 4], storage: .float64([])),
            NpyArray(shape: [5], storage: .int32([.min, -1, 0, 1, .max])),
            NpyArray(shape: [1, 1, 1, 2], storage: .int64([.min, .max])),
        ]
        for array in arrays {
            let data = array.encoded()
            XCTAssertEqual((10 + Int(data[8]) + Int(data[9]) * 256) % 64, 0, "data starts on a 64-byte boundary")
            XCTAssertEqual(try NpyArray.decode(data, path: "round.npy"), array)
        }
    }

    func testNaNSurvivesARoundTripBitForBit() throws {
        let nan = Float(bitPattern: 0x7fc0_0001)
        let array = try NpyArray(shape: [1], storage: .float32([nan]))
        guard case let .float32(values) = try NpyArray.decode(array.encoded(), path: "nan.npy").storage else {
            return XCTFail("dtype changed")
        }
        XCTAssertEqual(values[0].bitPattern, nan.bitPattern)
    }

    func testShapeThatDoesNotMatchTheValuesIsRefused() {
        assertRefused("invalidNpy") { try NpyArray(shape: [2, 2], storage: .float32([1, 2, 3])) }
    }

    func testBigEndianFortranOrderAndOtherDTypesAreRefused() throws {
        let good = try NpyArray(shape: [2], storage: .float32([1, 2])).encoded()
        for (from, to) in [("'<f4'", "'>f4'"), ("False", "True "), ("'<f4'", "'|u1'"), ("'<f4'", "'<f2'")] {
            let text = String(decoding: good, as: UTF8.self).replacingOccurrences(of: from, with: to)
            let bad = Data(good.prefix(10)) + Data(text.utf8).dropFirst(10)
            assertRefused("invalidNpy") { try NpyArray.decode(bad, path: "bad.npy") }
        }
    }

    func testTruncatedOrPaddedDataIsRefused() throws {
        let good = try NpyArray(shape: [2], storage: .float64([1, 2])).encoded()
        assertRefused("invalidNpy") { try NpyArray.decode(good.dropLast(), path: "short.npy") }
        assertRefused("invalidNpy") { try NpyArray.decode(good + Data([0]), path: "long.npy") }
        assertRefused("invalidNpy") { try NpyArray.decode(good.prefix(40), path: "header.npy") }
    }

    func testWrongMagicAndVersionTwoAreRefused() throws {
        var data = try NpyArray(shape: [1], storage: .int32([1])).encoded()
        data[6] = 2
        let error = assertRefused("invalidNpy") { try NpyArray.decode(data, path: "v2.npy") }
        XCTAssertTrue(error?.description.contains("2.0") ?? false)
        assertRefused("invalidNpy") { try NpyArray.decode(Data("PK\u{3}\u{4}zipfile".utf8), path: "zip.npy") }
    }

    func testRefusalNamesTheFile() throws {
        let error = assertRefused("invalidNpy") { try NpyArray.decode(Data(), path: "train/x.npy") }
        XCTAssertTrue(error?.description.hasPrefix("train/x.npy:") ?? false)
    }
}
