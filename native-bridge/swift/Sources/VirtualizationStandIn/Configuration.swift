// VirtualizationStandIn: a TEST DOUBLE for Apple's Virtualization.framework, NOT a hypervisor.
//
// It exists so that the `vz` library (Sources/VelocityVZ) can be compiled and exercised on
// Linux, where the framework does not exist: the library imports it only where
// `canImport(Virtualization)` is false (Package.swift links it on Linux alone; macOS builds
// use the real framework). It declares the part of the framework's Swift API the library
// uses, with Apple's spellings and signatures as documented, and behind it a small fake:
// configurations that validate() the way Apple documents (CPU and memory bounds, one
// scanout on a virtio-gpu device, a boot loader), and a VZVirtualMachine whose operations
// complete on the VM's queue after a delay (VirtualMachine.swift). No guest runs, no disk is
// read, no packet moves; a pass against this double proves the library's own logic — state
// mapping, threading, events, error paths, file handling — not its use of the framework.
#if !canImport(Virtualization)
import Foundation

/// The framework's error domain and codes (VZErrorDomain), as the double reports failures.
public struct VZError: CustomNSError {
    public enum Code: Int {
        case internalError = 1
        case invalidVirtualMachineConfiguration = 2
        case invalidVirtualMachineState = 3
        case invalidVirtualMachineStateTransition = 4
        case invalidDiskImage = 5
        case operationCancelled = 9
        case notSupported = 10
    }

    public let code: Code
    public let errorUserInfo: [String: Any]

    public init(_ code: Code, userInfo: [String: Any] = [:]) {
        self.code = code
        self.errorUserInfo = userInfo
    }

    public static var errorDomain: String { "VZErrorDomain" }
    public var errorCode: Int { code.rawValue }

    static func failure(_ code: Code, _ description: String) -> VZError {
        VZError(code, userInfo: [NSLocalizedDescriptionKey: description])
    }
}

// MARK: - Boot loaders and platforms

open class VZBootLoader: NSObject {}

public class VZEFIVariableStore: NSObject {
    public struct InitializationOptions: OptionSet {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let allowOverwrite = InitializationOptions(rawValue: 1 << 0)
    }

    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// Creates the store file (the double writes an empty one; the framework writes NVRAM).
    public init(creatingVariableStoreAt url: URL, options: InitializationOptions = []) throws {
        if FileManager.default.fileExists(atPath: url.path), !options.contains(.allowOverwrite) {
            throw VZError.failure(.invalidVirtualMachineConfiguration, "the EFI variable store \(url.path) exists already")
        }
        guard FileManager.default.createFile(atPath: url.path, contents: Data()) else {
            throw VZError.failure(.internalError, "cannot create the EFI variable store \(url.path)")
        }
        self.url = url
    }
}

public class VZEFIBootLoader: VZBootLoader {
    public var variableStore: VZEFIVariableStore?
    public override init() {}
}

public class VZLinuxBootLoader: VZBootLoader {
    public var kernelURL: URL
    public var initialRamdiskURL: URL?
    public var commandLine: String = ""

    public init(kernelURL: URL) {
        self.kernelURL = kernelURL
    }
}

open class VZPlatformConfiguration: NSObject {}

public class VZGenericMachineIdentifier: NSObject {
    private let bytes: Data

    public override init() {
        bytes = Data(UUID().uuidString.utf8)
    }

    public init?(dataRepresentation: Data) {
        guard dataRepresentation.count == 36, UUID(uuidString: String(decoding: dataRepresentation, as: UTF8.self)) != nil else {
            return nil
        }
        bytes = dataRepresentation
    }

    public var dataRepresentation: Data { bytes }
}

public class VZGenericPlatformConfiguration: VZPlatformConfiguration {
    public var machineIdentifier = VZGenericMachineIdentifier()
    public override init() {}
}

// MARK: - Storage

public enum VZDiskImageCachingMode: Int {
    case automatic = 0
    case uncached = 1
    case cached = 2
}

public enum VZDiskImageSynchronizationMode: Int {
    case full = 1
    case fsync = 2
    case none = 3
}

open class VZStorageDeviceAttachment: NSObject {}

public class VZDiskImageStorageDeviceAttachment: VZStorageDeviceAttachment {
    public let url: URL
    public let isReadOnly: Bool
    public let cachingMode: VZDiskImageCachingMode
    public let synchronizationMode: VZDiskImageSynchronizationMode
    /// Held open while the attachment exists, as the framework holds the image.
    let handle: FileHandle

    public init(
        url: URL,
        readOnly: Bool,
        cachingMode: VZDiskImageCachingMode,
        synchronizationMode: VZDiskImageSynchronizationMode
    ) throws {
        let opened = readOnly ? FileHandle(forReadingAtPath: url.path) : FileHandle(forUpdatingAtPath: url.path)
        guard let opened else {
            throw VZError.failure(.invalidDiskImage, "cannot open the disk image \(url.path)")
        }
        self.url = url
        self.isReadOnly = readOnly
        self.cachingMode = cachingMode
        self.synchronizationMode = synchronizationMode
        self.handle = opened
    }
}

open class VZStorageDeviceConfiguration: NSObject {
    public let attachment: VZStorageDeviceAttachment

    init(attachment: VZStorageDeviceAttachment) {
        self.attachment = attachment
    }
}

public class VZVirtioBlockDeviceConfiguration: VZStorageDeviceConfiguration {
    public override init(attachment: VZStorageDeviceAttachment) {
        super.init(attachment: attachment)
    }
}

// MARK: - Network

public class VZMACAddress: NSObject {
    let octets: [UInt8]

    required init(octets: [UInt8]) {
        self.octets = octets
    }

    public convenience init?(string: String) {
        let parts = string.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard part.count == 2, let value = UInt8(part, radix: 16) else { return nil }
            octets.append(value)
        }
        self.init(octets: octets)
    }

    public class func randomLocallyAdministered() -> Self {
        var octets = (0..<6).map { _ in UInt8.random(in: 0...255) }
        octets[0] = (octets[0] & 0xFC) | 0x02
        return Self(octets: octets)
    }

    public var string: String { octets.map { String(format: "%02x", $0) }.joined(separator: ":") }
    public var isBroadcastAddress: Bool { octets.allSatisfy { $0 == 0xFF } }
    public var isMulticastAddress: Bool { octets[0] & 0x01 != 0 }
    public var isUnicastAddress: Bool { !isMulticastAddress }
    public var isLocallyAdministeredAddress: Bool { octets[0] & 0x02 != 0 }
    public var isUniversallyAdministeredAddress: Bool { !isLocallyAdministeredAddress }
}

open class VZNetworkDeviceAttachment: NSObject {}

public class VZNATNetworkDeviceAttachment: VZNetworkDeviceAttachment {
    public override init() {}
}

open class VZNetworkInterface: NSObject {}

public class VZBridgedNetworkInterface: VZNetworkInterface {
    public let identifier: String
    public let localizedDisplayName: String?

    init(identifier: String, localizedDisplayName: String?) {
        self.identifier = identifier
        self.localizedDisplayName = localizedDisplayName
    }

    /// Empty, as on a Mac whose process lacks the com.apple.vm.networking entitlement.
    public class var networkInterfaces: [VZBridgedNetworkInterface] { [] }
}

public class VZBridgedNetworkDeviceAttachment: VZNetworkDeviceAttachment {
    public let interface: VZBridgedNetworkInterface

    public init(interface: VZBridgedNetworkInterface) {
        self.interface = interface
    }
}

public class VZFileHandleNetworkDeviceAttachment: VZNetworkDeviceAttachment {
    public let fileHandle: FileHandle

    public init(fileHandle: FileHandle) {
        self.fileHandle = fileHandle
    }
}

open class VZNetworkDeviceConfiguration: NSObject {
    public var macAddress = VZMACAddress.randomLocallyAdministered()
    public var attachment: VZNetworkDeviceAttachment?
}

public class VZVirtioNetworkDeviceConfiguration: VZNetworkDeviceConfiguration {
    public override init() {}
}

// MARK: - Graphics and input

open class VZGraphicsDisplayConfiguration: NSObject {}

public class VZVirtioGraphicsScanoutConfiguration: VZGraphicsDisplayConfiguration {
    public var widthInPixels: Int
    public var heightInPixels: Int

    public init(widthInPixels: Int, heightInPixels: Int) {
        self.widthInPixels = widthInPixels
        self.heightInPixels = heightInPixels
    }
}

open class VZGraphicsDeviceConfiguration: NSObject {}

public class VZVirtioGraphicsDeviceConfiguration: VZGraphicsDeviceConfiguration {
    public var scanouts: [VZVirtioGraphicsScanoutConfiguration] = []
    public override init() {}
}

open class VZKeyboardConfiguration: NSObject {}

public class VZUSBKeyboardConfiguration: VZKeyboardConfiguration {
    public override init() {}
}

open class VZPointingDeviceConfiguration: NSObject {}

public class VZUSBScreenCoordinatePointingDeviceConfiguration: VZPointingDeviceConfiguration {
    public override init() {}
}

// MARK: - Serial port, entropy, memory balloon, directory sharing

open class VZSerialPortAttachment: NSObject {}

public class VZFileHandleSerialPortAttachment: VZSerialPortAttachment {
    public let fileHandleForReading: FileHandle?
    public let fileHandleForWriting: FileHandle?

    public init(fileHandleForReading: FileHandle?, fileHandleForWriting: FileHandle?) {
        self.fileHandleForReading = fileHandleForReading
        self.fileHandleForWriting = fileHandleForWriting
    }
}

open class VZSerialPortConfiguration: NSObject {
    public var attachment: VZSerialPortAttachment?
}

public class VZVirtioConsoleDeviceSerialPortConfiguration: VZSerialPortConfiguration {
    public override init() {}
}

open class VZEntropyDeviceConfiguration: NSObject {}

public class VZVirtioEntropyDeviceConfiguration: VZEntropyDeviceConfiguration {
    public override init() {}
}

open class VZMemoryBalloonDeviceConfiguration: NSObject {}

public class VZVirtioTraditionalMemoryBalloonDeviceConfiguration: VZMemoryBalloonDeviceConfiguration {
    public override init() {}
}

open class VZDirectorySharingDeviceConfiguration: NSObject {}

// MARK: - The VM's configuration

public class VZVirtualMachineConfiguration: NSObject {
    public var bootLoader: VZBootLoader?
    public var cpuCount: Int = 1
    public var memorySize: UInt64 = 0
    public var platform: VZPlatformConfiguration = VZGenericPlatformConfiguration()
    public var storageDevices: [VZStorageDeviceConfiguration] = []
    public var networkDevices: [VZNetworkDeviceConfiguration] = []
    public var graphicsDevices: [VZGraphicsDeviceConfiguration] = []
    public var serialPorts: [VZSerialPortConfiguration] = []
    public var entropyDevices: [VZEntropyDeviceConfiguration] = []
    public var memoryBalloonDevices: [VZMemoryBalloonDeviceConfiguration] = []
    public var keyboards: [VZKeyboardConfiguration] = []
    public var pointingDevices: [VZPointingDeviceConfiguration] = []
    public var directorySharingDevices: [VZDirectorySharingDeviceConfiguration] = []

    public override init() {}

    /// The double's host: at least one CPU, 4 MiB of memory and at most 16 GiB and 8 CPUs,
    /// whatever the machine it runs on has.
    public class var minimumAllowedCPUCount: Int { 1 }
    public class var maximumAllowedCPUCount: Int { 8 }
    public class var minimumAllowedMemorySize: UInt64 { 4 << 20 }
    public class var maximumAllowedMemorySize: UInt64 { 16 << 30 }

    /// Throws for what Apple documents as invalid; the first problem found is reported.
    public func validate() throws {
        func invalid(_ reason: String) -> VZError {
            VZError.failure(.invalidVirtualMachineConfiguration, "Invalid virtual machine configuration. \(reason)")
        }
        guard bootLoader != nil else { throw invalid("A boot loader must be configured.") }
        let cpus = Self.minimumAllowedCPUCount...Self.maximumAllowedCPUCount
        guard cpus.contains(cpuCount) else { throw invalid("The CPU count must be between \(cpus.lowerBound) and \(cpus.upperBound).") }
        guard memorySize >= Self.minimumAllowedMemorySize, memorySize <= Self.maximumAllowedMemorySize else {
            throw invalid("The memory size is out of the allowed range.")
        }
        guard memorySize % (1 << 20) == 0 else { throw invalid("The memory size must be a multiple of a megabyte.") }
        for case let graphics as VZVirtioGraphicsDeviceConfiguration in graphicsDevices where graphics.scanouts.count != 1 {
            throw invalid("A Virtio graphics device must have exactly one scanout, it has \(graphics.scanouts.count).")
        }
        for case let network as VZVirtioNetworkDeviceConfiguration in networkDevices {
            guard network.attachment != nil else { throw invalid("A network device has no attachment.") }
            guard network.macAddress.isUnicastAddress else { throw invalid("A network device has a multicast MAC address.") }
        }
        guard entropyDevices.count <= 1 else { throw invalid("At most one entropy device is allowed.") }
        guard memoryBalloonDevices.count <= 1 else { throw invalid("At most one memory balloon device is allowed.") }
    }
}
#endif
