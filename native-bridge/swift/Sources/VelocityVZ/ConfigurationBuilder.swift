import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

/// Turns a checked configuration into a validated VZVirtualMachineConfiguration.
///
/// Building opens the VM's descriptors (serial console, FILEHANDLE sockets) and creates its
/// persistent files (EFI variable store, machine identifier) when they are missing. The
/// descriptors belong to FileHandles that close them when the configuration goes away.
enum ConfigurationBuilder {
    static let efiVariableStoreName = "efi-vars.fd"
    static let machineIdentifierName = "machine-identifier.bin"

    /// `platform` is the macOS platform of a MAC VM (see MacPlatform); ignored otherwise.
    static func build(_ config: CheckedConfig, macPlatform platform: VZPlatformConfiguration? = nil) throws -> VZVirtualMachineConfiguration {
        let configuration = VZVirtualMachineConfiguration()
        configuration.cpuCount = config.cpuCount
        configuration.memorySize = config.memoryBytes

        switch config.type {
        case .efi:
            let loader = VZEFIBootLoader()
            loader.variableStore = try efiVariableStore(in: config.directory)
            configuration.bootLoader = loader
            configuration.platform = try genericPlatform(in: config.directory)
        case .kboot:
            guard let kernel = config.kernel else {
                throw VHVError(.invalidConfig, "a KBOOT VM needs a kernel")
            }
            let loader = VZLinuxBootLoader(kernelURL: kernel)
            loader.initialRamdiskURL = config.initrd
            loader.commandLine = config.commandLine
            configuration.bootLoader = loader
            configuration.platform = try genericPlatform(in: config.directory)
        case .mac:
            #if arch(arm64)
            guard let platform else {
                throw VHVError(.internalError, "a MAC VM was built without its platform")
            }
            configuration.bootLoader = VZMacOSBootLoader()
            configuration.platform = platform
            #else
            throw VHVError(.unsupported, "macOS guests need a Mac with Apple silicon")
            #endif
        }

        configuration.storageDevices = try config.disks.map { disk -> VZStorageDeviceConfiguration in
            let attachment: VZDiskImageStorageDeviceAttachment
            do {
                // Linux guests on the default caching mode have seen file-system corruption;
                // cached is the mode Apple recommends for them.
                attachment = try VZDiskImageStorageDeviceAttachment(
                    url: disk.url,
                    readOnly: disk.readOnly,
                    cachingMode: config.type == .mac ? .automatic : .cached,
                    synchronizationMode: .full
                )
            } catch {
                throw VHVError.wrap(error, .invalidConfig, "disk \(disk.url.path)")
            }
            return VZVirtioBlockDeviceConfiguration(attachment: attachment)
        }

        configuration.networkDevices = try config.nics.enumerated().map { (index, nic) -> VZNetworkDeviceConfiguration in
            let device = VZVirtioNetworkDeviceConfiguration()
            if let text = nic.mac {
                guard let address = VZMACAddress(string: text) else {
                    throw VHVError(.invalidConfig, "nics[\(index)].mac is not a MAC address: \"\(text)\"")
                }
                device.macAddress = address
            }
            device.attachment = try networkAttachment(nic.attachment, field: "nics[\(index)]")
            return device
        }

        try addGraphics(to: configuration, config)

        if config.consoleOutput != nil || config.consoleInput != nil {
            configuration.serialPorts = [try serialPort(config)]
        }

        configuration.entropyDevices = [VZVirtioEntropyDeviceConfiguration()]
        if config.type != .mac {
            configuration.memoryBalloonDevices = [VZVirtioTraditionalMemoryBalloonDeviceConfiguration()]
        }

        #if arch(arm64)
        // Rosetta for x86_64 binaries in ARM Linux guests, where the host has it installed;
        // otherwise the request is ignored (the host capabilities say rosetta: false).
        if config.rosetta, config.type != .mac, VZLinuxRosettaDirectoryShare.availability == .installed,
           let share = try? VZLinuxRosettaDirectoryShare() {
            let device = VZVirtioFileSystemDeviceConfiguration(tag: "rosetta")
            device.share = share
            configuration.directorySharingDevices = [device]
        }
        #endif

        do {
            try configuration.validate()
        } catch {
            throw VHVError(.invalidConfig, describe(error))
        }
        return configuration
    }

    // MARK: - Boot and platform

    private static func efiVariableStore(in directory: URL) throws -> VZEFIVariableStore {
        let url = directory.appendingPathComponent(efiVariableStoreName)
        switch Posix.kind(of: url.path) {
        case .regular?:
            return VZEFIVariableStore(url: url)
        case nil:
            do {
                return try VZEFIVariableStore(creatingVariableStoreAt: url)
            } catch {
                throw VHVError.wrap(error, .invalidConfig, "cannot create the EFI variable store \(url.path)")
            }
        default:
            throw VHVError(.invalidConfig, "\(url.path) is not a regular file")
        }
    }

    /// A generic platform whose machine identifier persists in the VM's directory, so the guest
    /// sees the same machine on every boot.
    private static func genericPlatform(in directory: URL) throws -> VZGenericPlatformConfiguration {
        let url = directory.appendingPathComponent(machineIdentifierName)
        let identifier: VZGenericMachineIdentifier
        switch Posix.kind(of: url.path) {
        case .regular?:
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw VHVError.wrap(error, .invalidConfig, "cannot read \(url.path)")
            }
            guard let stored = VZGenericMachineIdentifier(dataRepresentation: data) else {
                throw VHVError(.invalidConfig, "\(url.path) does not hold a machine identifier; delete it to get a new one")
            }
            identifier = stored
        case nil:
            identifier = VZGenericMachineIdentifier()
            do {
                try identifier.dataRepresentation.write(to: url, options: .atomic)
            } catch {
                throw VHVError.wrap(error, .invalidConfig, "cannot write \(url.path)")
            }
        default:
            throw VHVError(.invalidConfig, "\(url.path) is not a regular file")
        }
        let platform = VZGenericPlatformConfiguration()
        platform.machineIdentifier = identifier
        return platform
    }

    // MARK: - Devices

    private static func networkAttachment(_ attachment: CheckedConfig.Attachment, field: String) throws -> VZNetworkDeviceAttachment {
        switch attachment {
        case .nat:
            return VZNATNetworkDeviceAttachment()
        case .bridged(let name):
            let interface = try ConfigChecker.bridgedInterface(named: name, field: field)
            return VZBridgedNetworkDeviceAttachment(interface: interface)
        case .fileHandle(let peerPath, let localPath):
            let fd = try Posix.connectedDatagramSocket(localPath: localPath, peerPath: peerPath)
            guard Posix.isOpen(fd) else {
                throw VHVError(.internalError, "\(field): the socket descriptor is not valid")
            }
            return VZFileHandleNetworkDeviceAttachment(fileHandle: FileHandle(fileDescriptor: fd, closeOnDealloc: true))
        }
    }

    private static func addGraphics(to configuration: VZVirtualMachineConfiguration, _ config: CheckedConfig) throws {
        guard !config.displays.isEmpty else { return }
        for display in config.displays where display.width <= 0 || display.height <= 0 {
            throw VHVError(.invalidConfig, "display sizes must be positive, got \(display.width)x\(display.height)")
        }
        if config.type == .mac {
            #if arch(arm64)
            let device = VZMacGraphicsDeviceConfiguration()
            device.displays = config.displays.map {
                VZMacGraphicsDisplayConfiguration(widthInPixels: $0.width, heightInPixels: $0.height, pixelsPerInch: 80)
            }
            configuration.graphicsDevices = [device]
            #endif
        } else {
            let device = VZVirtioGraphicsDeviceConfiguration()
            device.scanouts = config.displays.map {
                VZVirtioGraphicsScanoutConfiguration(widthInPixels: $0.width, heightInPixels: $0.height)
            }
            configuration.graphicsDevices = [device]
        }
        // A display without input devices is of little use to whoever looks at it.
        configuration.keyboards = [VZUSBKeyboardConfiguration()]
        configuration.pointingDevices = [VZUSBScreenCoordinatePointingDeviceConfiguration()]
    }

    /// The guest's serial console: bytes written to the input FIFO reach the guest; the guest's
    /// output is appended to the output file.
    private static func serialPort(_ config: CheckedConfig) throws -> VZSerialPortConfiguration {
        var reading: FileHandle?
        var writing: FileHandle?
        if let path = config.consoleInput {
            let fd = try Posix.openFIFOForReading(path)
            guard Posix.isOpen(fd) else {
                throw VHVError(.internalError, "console input descriptor is not valid")
            }
            reading = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
        if let path = config.consoleOutput {
            let fd = try Posix.openForAppending(path)
            guard Posix.isOpen(fd) else {
                throw VHVError(.internalError, "console output descriptor is not valid")
            }
            writing = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        }
        let port = VZVirtioConsoleDeviceSerialPortConfiguration()
        port.attachment = VZFileHandleSerialPortAttachment(fileHandleForReading: reading, fileHandleForWriting: writing)
        return port
    }
}
