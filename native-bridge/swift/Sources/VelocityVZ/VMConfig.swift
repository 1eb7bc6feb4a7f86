import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

// MARK: - The create JSON of velocity_hv.h

/// The configuration JSON of vhv_create, as the header defines it. Unknown keys (such as the
/// sim library's "sim" object) are ignored.
struct VMConfigInput: Decodable {
    struct Console: Decodable {
        let output: String?
        let input: String?
    }

    struct Disk: Decodable {
        let path: String
        let readOnly: Bool?

        enum CodingKeys: String, CodingKey {
            case path
            case readOnly = "read_only"
        }
    }

    struct NIC: Decodable {
        let type: String
        var mac: String?
        let interface: String?
        let socket: String?
    }

    struct Display: Decodable {
        let width: Int
        let height: Int
    }

    /// Only counted: the framework's NAT has no port forwarding, so any forward is refused.
    struct PortForward: Decodable {
        let hostPort: Int
        let guestPort: Int

        enum CodingKeys: String, CodingKey {
            case hostPort = "host_port"
            case guestPort = "guest_port"
        }
    }

    struct KernelBoot: Decodable {
        let kernel: String
        let initrd: String?
        let cmdline: String?
    }

    struct MacOS: Decodable {
        let restoreImage: String?

        enum CodingKeys: String, CodingKey {
            case restoreImage = "restore_image"
        }
    }

    let name: String?
    let type: String
    let cpuCount: Int
    let memorySizeMB: Int
    let directory: String
    let console: Console?
    let disks: [Disk]?
    var nics: [NIC]?
    let displays: [Display]?
    let rosetta: Bool?
    let portForwards: [PortForward]?
    let kboot: KernelBoot?
    let mac: MacOS?

    enum CodingKeys: String, CodingKey {
        case name, type, directory, console, disks, nics, displays, rosetta, kboot, mac
        case portForwards = "port_forwards"
        case cpuCount = "cpu_count"
        case memorySizeMB = "memory_size_mb"
    }

    /// Gives every NIC without a MAC a random locally administered one, once, at create: the
    /// framework would otherwise draw a new one at every start, and the guest would see a new
    /// network card (new DHCP lease, new interface name) each time.
    mutating func assignMissingMACs() {
        nics = nics?.map { nic in
            var assigned = nic
            if assigned.mac == nil { assigned.mac = VZMACAddress.randomLocallyAdministered().string }
            return assigned
        }
    }

    static func decode(_ text: String) throws -> VMConfigInput {
        do {
            return try JSONDecoder().decode(VMConfigInput.self, from: Data(text.utf8))
        } catch {
            throw VHVError(.invalidConfig, "invalid configuration: \(describeDecodingError(error))")
        }
    }

    private static func describeDecodingError(_ error: Error) -> String {
        guard let decodingError = error as? DecodingError else { return describe(error) }
        func path(_ keys: [CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "(root)" : text
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case .valueNotFound(let type, let context):
            return "field \(path(context.codingPath)) is null, expected \(type)"
        case .typeMismatch(let type, let context):
            return "field \(path(context.codingPath)) has the wrong type, expected \(type)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not valid JSON"
                : "field \(path(context.codingPath)) is invalid: \(context.debugDescription)"
        @unknown default:
            return describe(error)
        }
    }
}

// MARK: - The checked configuration

enum VMType: String {
    case efi = "EFI"
    case kboot = "KBOOT"
    case mac = "MAC"
}

/// A configuration whose every path, size and number has been checked; paths are canonical.
struct CheckedConfig {
    struct Disk {
        let url: URL
        let readOnly: Bool
    }

    enum Attachment {
        case nat
        case bridged(interface: String)
        case fileHandle(peerPath: String, localPath: String)
    }

    struct NIC {
        let mac: String?
        let attachment: Attachment
    }

    struct Display {
        let width: Int
        let height: Int
    }

    let type: VMType
    let cpuCount: Int
    let memoryBytes: UInt64
    let directory: URL
    let consoleOutput: String?
    let consoleInput: String?
    let disks: [Disk]
    let nics: [NIC]
    let displays: [Display]
    let rosetta: Bool
    let kernel: URL?
    let initrd: URL?
    let commandLine: String
    let restoreImage: URL?
}

// MARK: - Checks

/// Checks a configuration against the host and the file system. Run at create (so a bad
/// configuration is refused with INVALID_CONFIG at once) and again at every start (files may
/// have changed since).
enum ConfigChecker {
    static let mebibyte: UInt64 = 1 << 20
    /// Display sizes accepted; the framework's own validation still has the last word.
    static let maximumDisplayWidth = 7680
    static let maximumDisplayHeight = 4320
    /// Displays of an EFI or KBOOT VM: the one scanout of its virtio-gpu device.
    static let maximumVirtioDisplays = 1
    static let maximumPathLength = Int(PATH_MAX) - 1

    static func check(_ input: VMConfigInput) throws -> CheckedConfig {
        guard let type = VMType(rawValue: input.type) else {
            throw invalid("type must be EFI, KBOOT or MAC, got \"\(input.type)\"")
        }
        #if !arch(arm64)
        if type == .mac {
            throw VHVError(.unsupported, "macOS guests need a Mac with Apple silicon")
        }
        #endif
        if let forwards = input.portForwards, !forwards.isEmpty {
            throw VHVError(
                .unsupported,
                "port_forwards are not available with the vz driver: Virtualization.framework's NAT has no port forwarding; reach the guest at its address from the host's DHCP leases"
            )
        }

        let minCPU = VZVirtualMachineConfiguration.minimumAllowedCPUCount
        let maxCPU = VZVirtualMachineConfiguration.maximumAllowedCPUCount
        guard input.cpuCount >= minCPU, input.cpuCount <= maxCPU else {
            throw invalid("cpu_count must be between \(minCPU) and \(maxCPU) on this host, got \(input.cpuCount)")
        }

        let minMemory = VZVirtualMachineConfiguration.minimumAllowedMemorySize
        let maxMemory = VZVirtualMachineConfiguration.maximumAllowedMemorySize
        let minMB = (minMemory + mebibyte - 1) / mebibyte
        let maxMB = maxMemory / mebibyte
        guard input.memorySizeMB > 0, UInt64(input.memorySizeMB) >= minMB, UInt64(input.memorySizeMB) <= maxMB else {
            throw invalid("memory_size_mb must be between \(minMB) and \(maxMB) on this host, got \(input.memorySizeMB)")
        }
        // memory_size_mb <= maxMB, so this cannot overflow, and it is a multiple of 1 MiB.
        let memoryBytes = UInt64(input.memorySizeMB) * mebibyte

        let directory = try vmDirectory(input.directory)

        var consoleOutput: String?
        var consoleInput: String?
        if let console = input.console {
            if let output = console.output {
                consoleOutput = try consoleOutputPath(output)
            }
            if let inputPath = console.input {
                consoleInput = try existing(inputPath, field: "console.input", kind: .fifo)
            }
        }

        var disks: [CheckedConfig.Disk] = []
        for (index, disk) in (input.disks ?? []).enumerated() {
            let readOnly = disk.readOnly ?? false
            let path = try existing(disk.path, field: "disks[\(index)].path", kind: .regular)
            guard Posix.isAccessible(path, writable: !readOnly) else {
                throw invalid("disks[\(index)].path \(path) is not \(readOnly ? "readable" : "readable and writable")")
            }
            disks.append(.init(url: URL(fileURLWithPath: path), readOnly: readOnly))
        }

        var nics: [CheckedConfig.NIC] = []
        for (index, nic) in (input.nics ?? []).enumerated() {
            nics.append(try checkNIC(nic, index: index, directory: directory))
        }

        // A virtio-gpu device has one scanout (validate() refuses more), and one device is all a
        // Linux guest gets: EFI and KBOOT VMs have at most one display (host capabilities:
        // max_displays).
        let displayCount = input.displays?.count ?? 0
        if type != .mac, displayCount > maximumVirtioDisplays {
            throw invalid("an \(type.rawValue) VM has at most \(maximumVirtioDisplays) display (virtio-gpu has one scanout), got \(displayCount)")
        }
        var displays: [CheckedConfig.Display] = []
        for (index, display) in (input.displays ?? []).enumerated() {
            guard display.width > 0, display.width <= maximumDisplayWidth,
                  display.height > 0, display.height <= maximumDisplayHeight else {
                throw invalid("displays[\(index)] must be between 1x1 and \(maximumDisplayWidth)x\(maximumDisplayHeight), got \(display.width)x\(display.height)")
            }
            displays.append(.init(width: display.width, height: display.height))
        }

        var kernel: URL?
        var initrd: URL?
        var commandLine = ""
        if type == .kboot {
            guard let kboot = input.kboot else {
                throw invalid("a KBOOT VM needs a kboot object with a kernel")
            }
            kernel = URL(fileURLWithPath: try existing(kboot.kernel, field: "kboot.kernel", kind: .regular))
            if let initrdPath = kboot.initrd {
                initrd = URL(fileURLWithPath: try existing(initrdPath, field: "kboot.initrd", kind: .regular))
            }
            commandLine = kboot.cmdline ?? ""
            guard !commandLine.utf8.contains(0) else {
                throw invalid("kboot.cmdline must not contain NUL characters")
            }
        }

        var restoreImage: URL?
        if type == .mac, let image = input.mac?.restoreImage {
            restoreImage = URL(fileURLWithPath: try existing(image, field: "mac.restore_image", kind: .regular))
        }

        return CheckedConfig(
            type: type,
            cpuCount: input.cpuCount,
            memoryBytes: memoryBytes,
            directory: directory,
            consoleOutput: consoleOutput,
            consoleInput: consoleInput,
            disks: disks,
            nics: nics,
            displays: displays,
            rosetta: input.rosetta ?? false,
            kernel: kernel,
            initrd: initrd,
            commandLine: commandLine,
            restoreImage: restoreImage
        )
    }

    private static func invalid(_ message: String) -> VHVError {
        VHVError(.invalidConfig, message)
    }

    /// An absolute path without NUL characters that fits PATH_MAX.
    private static func absolute(_ path: String, field: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw invalid("\(field) must be an absolute path, got \"\(path)\"")
        }
        guard !path.utf8.contains(0), path.utf8.count <= maximumPathLength else {
            throw invalid("\(field) is not a usable path")
        }
        return path
    }

    /// An existing file of the given kind, returned canonical.
    private static func existing(_ path: String, field: String, kind: Posix.Kind) throws -> String {
        let checked = try absolute(path, field: field)
        guard let actual = Posix.kind(of: checked), let canonical = Posix.canonicalPath(checked) else {
            throw invalid("\(field): \(checked) does not exist")
        }
        guard actual == kind else {
            throw invalid("\(field): \(checked) is not a \(kindName(kind))")
        }
        return canonical
    }

    private static func kindName(_ kind: Posix.Kind) -> String {
        switch kind {
        case .regular: return "regular file"
        case .directory: return "directory"
        case .fifo: return "FIFO (named pipe)"
        case .socket: return "socket"
        case .other: return "file"
        }
    }

    /// The VM's own directory: created when missing, must be a writable directory.
    private static func vmDirectory(_ path: String) throws -> URL {
        let checked = try absolute(path, field: "directory")
        switch Posix.kind(of: checked) {
        case nil:
            do {
                try FileManager.default.createDirectory(atPath: checked, withIntermediateDirectories: true)
            } catch {
                throw invalid("cannot create directory \(checked): \(describe(error))")
            }
        case .directory?:
            break
        default:
            throw invalid("directory: \(checked) is not a directory")
        }
        guard let canonical = Posix.canonicalPath(checked), Posix.isAccessible(canonical, writable: true) else {
            throw invalid("directory: \(checked) is not writable")
        }
        return URL(fileURLWithPath: canonical, isDirectory: true)
    }

    /// The serial output file: its directory must exist; the file is created when missing.
    private static func consoleOutputPath(_ path: String) throws -> String {
        let checked = try absolute(path, field: "console.output")
        if let kind = Posix.kind(of: checked) {
            guard kind == .regular else {
                throw invalid("console.output: \(checked) is not a regular file")
            }
            return Posix.canonicalPath(checked) ?? checked
        }
        let parent = (checked as NSString).deletingLastPathComponent
        guard Posix.kind(of: parent) == .directory, let canonicalParent = Posix.canonicalPath(parent) else {
            throw invalid("console.output: directory \(parent) does not exist")
        }
        return (canonicalParent as NSString).appendingPathComponent((checked as NSString).lastPathComponent)
    }

    private static func checkNIC(_ nic: VMConfigInput.NIC, index: Int, directory: URL) throws -> CheckedConfig.NIC {
        let field = "nics[\(index)]"
        if let mac = nic.mac {
            guard let address = VZMACAddress(string: mac) else {
                throw invalid("\(field).mac is not a MAC address: \"\(mac)\"")
            }
            guard address.isUnicastAddress else {
                throw invalid("\(field).mac must be a unicast address: \"\(mac)\"")
            }
        }
        switch nic.type {
        case "NAT":
            return .init(mac: nic.mac, attachment: .nat)
        case "BRIDGE":
            guard let name = nic.interface, !name.isEmpty else {
                throw invalid("\(field) is a BRIDGE NIC without an interface")
            }
            _ = try bridgedInterface(named: name, field: field)
            return .init(mac: nic.mac, attachment: .bridged(interface: name))
        case "FILEHANDLE":
            guard let socketPath = nic.socket else {
                throw invalid("\(field) is a FILEHANDLE NIC without a socket path")
            }
            let peer = try existing(socketPath, field: "\(field).socket", kind: .socket)
            guard peer.utf8.count <= Posix.maximumSocketPathLength else {
                throw invalid("\(field).socket: \(peer) is longer than a Unix socket address allows (\(Posix.maximumSocketPathLength) bytes)")
            }
            let local = directory.appendingPathComponent("nic\(index).sock").path
            guard local.utf8.count <= Posix.maximumSocketPathLength else {
                throw invalid("the VM directory path is too long for its NIC socket \(local) (at most \(Posix.maximumSocketPathLength) bytes)")
            }
            return .init(mac: nic.mac, attachment: .fileHandle(peerPath: peer, localPath: local))
        default:
            throw invalid("\(field).type must be NAT, BRIDGE or FILEHANDLE, got \"\(nic.type)\"")
        }
    }

    /// The host interface a BRIDGE NIC attaches to. The list is empty unless the executable
    /// carries the restricted com.apple.vm.networking entitlement.
    static func bridgedInterface(named name: String, field: String) throws -> VZBridgedNetworkInterface {
        let interfaces = VZBridgedNetworkInterface.networkInterfaces
        if interfaces.isEmpty {
            throw invalid("\(field): bridged networking is unavailable: it needs the com.apple.vm.networking entitlement, which Apple grants on request; use a FILEHANDLE NIC (e.g. with socket_vmnet) instead")
        }
        guard let match = interfaces.first(where: { $0.identifier == name }) else {
            let names = interfaces.map { $0.identifier }.joined(separator: ", ")
            throw invalid("\(field): no bridgeable host interface \"\(name)\" (available: \(names))")
        }
        return match
    }
}
