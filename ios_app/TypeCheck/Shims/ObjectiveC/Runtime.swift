// Type-check shim of the Objective-C runtime calls the job cases make to add one test method per carried job.
// Hand-written from Apple's public documentation (signatures only). On Apple platforms `Selector`, `IMP`,
// `class_addMethod` and `imp_implementationWithBlock` are the ObjectiveC module's; `NSSelectorFromString` is
// Foundation's (declared here because Linux Foundation has no selectors; the checked file imports both modules).

/// `Selector` (`SEL`): a method name registered with the runtime.
public struct Selector: Hashable, Sendable {
    private init() { shimOnly() }
}

/// `IMP`: a method implementation, imported as an opaque pointer.
public typealias IMP = OpaquePointer

/// `class_addMethod`: adds a method to a class; false when the class already has one with that name.
public func class_addMethod(_ cls: AnyClass?, _ name: Selector, _ imp: IMP, _ types: UnsafePointer<CChar>?) -> Bool {
    shimOnly()
}

/// `imp_implementationWithBlock`: an implementation that calls `block` (a `@convention(block)` closure) with the
/// receiver as its first argument.
public func imp_implementationWithBlock(_ block: Any) -> IMP { shimOnly() }

/// `NSSelectorFromString(_:)` (Foundation): the selector with that name, registered if new.
public func NSSelectorFromString(_ aSelectorName: String) -> Selector { shimOnly() }

func shimOnly() -> Never {
    fatalError("type-check shim: the Objective-C runtime does not exist on this platform")
}
