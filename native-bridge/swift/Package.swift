// swift-tools-version:5.9
//
// The `vz` hypervisor library: a dynamic library with C exports (see
// ../include/velocity_hv.h) around Apple's Virtualization.framework.
// `node native-bridge/build.js` runs `swift build -c release --package-path native-bridge/swift`
// on macOS and copies .build/release/libVelocityVZ.dylib next to the other native libraries.
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
            path: "Sources/VelocityVZ",
            linkerSettings: [.linkedFramework("Virtualization")]
        ),
    ]
)
