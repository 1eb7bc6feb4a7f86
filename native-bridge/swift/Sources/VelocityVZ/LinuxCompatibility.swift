// What Linux lacks for this library to compile there against the Virtualization stand-in
// (native-bridge/swift/Sources/VirtualizationStandIn): nothing here is used on macOS.
#if !canImport(ObjectiveC)
/// Linux has no Objective-C runtime and so no autorelease pools: the body just runs, and
/// objects are released as their last reference goes, which is what the pools on macOS
/// are there to bring about.
func autoreleasepool<Result>(invoking body: () throws -> Result) rethrows -> Result {
    try body()
}
#endif
