// expect: has no member 'keepForever'
// XCTAttachment.Lifetime has `.keepAlways` and `.deleteOnSuccess`, nothing else.
import Foundation
import XCTest

func attach(_ archive: URL, to test: XCTestCase) {
    let attachment = XCTAttachment(contentsOfFile: archive)
    attachment.lifetime = .keepForever
    test.add(attachment)
}
