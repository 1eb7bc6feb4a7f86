// swift-tools-version:5.9
//
// The `vz` hypervisor library: a dynamic library with C exports (see
// ../include/velocity_hv.h) around Apple's Virtualization.framework.
// `node native-bridge/build.js` runs `swift build -c release --arch <host arch>` on macOS and
// copies the built libVelocityVZ.dylib next to the other native libraries.
//
// On Linux (`npm run swift:linux`) the same sources compile against VirtualizationStandIn, a
// test double of the framework's API, so that the library's logic runs under the
// native-driver conformance suite; it is not a hypervisor and never reaches a macOS build.
import PackageDescription

let package = Package(
    name: "VelocityVZ",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "VelocityVZ", type: .dynamic, targets: ["VelocityVZ"]),
    ],
    targets: [
        .target(
            name: "VelocityVZ",
            dependencies: [.target(name: "VirtualizationStandIn", condition: .when(platforms: [.linux]))],
            path: "Sources/VelocityVZ",
            linkerSettings: [.linkedFramework("Virtualization", .when(platforms: [.macOS]))]
        ),
        .target(name: "VirtualizationStandIn", path: "Sources/VirtualizationStandIn"),
    ],
    // The sources are written for Swift 5's checking; Swift 6's strict concurrency checking
    // would reject the framework's non-Sendable callbacks crossing the VM's queue.
    swiftLanguageVersions: [.v5]
)
