// Type-check shim of the one ObjectiveC-module function the runner calls. Hand-written from Apple's public
// documentation (signature only). On Apple platforms Foundation re-exports ObjectiveC; Linux Foundation has no
// autorelease pools, so the runner imports ObjectiveC explicitly.

public func autoreleasepool<Result>(invoking body: () throws -> Result) rethrows -> Result {
    fatalError("type-check shim: ObjectiveC does not exist on this platform")
}
