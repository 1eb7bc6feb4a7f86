import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

/// vhv_host_capabilities: what this host and this process can do, read from the framework.
enum HostCapabilities {
    static func describe() -> JSON {
        let mebibyte = ConfigChecker.mebibyte
        let minMemory = VZVirtualMachineConfiguration.minimumAllowedMemorySize
        let maxMemory = VZVirtualMachineConfiguration.maximumAllowedMemorySize
        let supported = VZVirtualMachine.isSupported

        #if arch(arm64)
        let appleSilicon = true
        let rosetta = VZLinuxRosettaDirectoryShare.availability == .installed
        #else
        let appleSilicon = false
        let rosetta = false
        #endif

        var types: [JSON] = []
        if supported {
            types = [.string(VMType.efi.rawValue), .string(VMType.kboot.rawValue)]
            if appleSilicon { types.append(.string(VMType.mac.rawValue)) }
        }

        // Empty unless the executable has the com.apple.vm.networking entitlement.
        let bridges: [JSON] = VZBridgedNetworkInterface.networkInterfaces.map { interface in
            .object([
                ("id", .string(interface.identifier)),
                ("name", .string(interface.identifier)),
                ("description", .string(interface.localizedDisplayName ?? interface.identifier)),
            ])
        }

        return .object([
            ("driver", .string("vz")),
            ("max_cpu_count", .int(VZVirtualMachineConfiguration.maximumAllowedCPUCount)),
            ("max_memory_mb", .int(Int(clamping: maxMemory / mebibyte))),
            ("min_memory_mb", .int(Int(clamping: (minMemory + mebibyte - 1) / mebibyte))),
            ("max_display_width", .int(ConfigChecker.maximumDisplayWidth)),
            ("max_display_height", .int(ConfigChecker.maximumDisplayHeight)),
            // EFI and KBOOT VMs: one virtio-gpu scanout (macOS guests may have more).
            ("max_displays", .int(ConfigChecker.maximumVirtioDisplays)),
            ("bridge_interfaces", .array(bridges)),
            ("rosetta", .bool(rosetta)),
            ("macos_guests", .bool(appleSilicon && supported)),
            // Frames can only be read through a VZVirtualMachineView on the main thread.
            ("screenshots", .bool(false)),
            ("vm_types", .array(types)),
        ])
    }
}
