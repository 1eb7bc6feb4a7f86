#if arch(arm64)
import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

/// The persistent parts of a macOS guest, kept in the VM's directory:
///   hardware-model.bin          VZMacHardwareModel.dataRepresentation (from the restore image)
///   mac-machine-identifier.bin  VZMacMachineIdentifier.dataRepresentation
///   auxiliary-storage.bin       VZMacAuxiliaryStorage (the guest's NVRAM)
///   macos-installed             written once VZMacOSInstaller has finished successfully
/// A directory without the marker has no usable system: starting the VM installs macOS from
/// the configured restore image first.
enum MacPlatform {
    static let hardwareModelName = "hardware-model.bin"
    static let machineIdentifierName = "mac-machine-identifier.bin"
    static let auxiliaryStorageName = "auxiliary-storage.bin"
    static let installedMarkerName = "macos-installed"

    static func isInstalled(in directory: URL) -> Bool {
        [installedMarkerName, hardwareModelName, machineIdentifierName, auxiliaryStorageName].allSatisfy {
            Posix.kind(of: directory.appendingPathComponent($0).path) == .regular
        }
    }

    /// The platform of an installed macOS guest.
    static func load(from directory: URL) throws -> VZMacPlatformConfiguration {
        let modelData = try read(directory.appendingPathComponent(hardwareModelName))
        guard let model = VZMacHardwareModel(dataRepresentation: modelData) else {
            throw VHVError(.invalidConfig, "\(hardwareModelName) in \(directory.path) is not a Mac hardware model")
        }
        guard model.isSupported else {
            throw VHVError(.unsupported, "this host cannot run the guest's Mac hardware model; a newer macOS on the host may")
        }
        let identifierData = try read(directory.appendingPathComponent(machineIdentifierName))
        guard let identifier = VZMacMachineIdentifier(dataRepresentation: identifierData) else {
            throw VHVError(.invalidConfig, "\(machineIdentifierName) in \(directory.path) is not a Mac machine identifier")
        }
        let platform = VZMacPlatformConfiguration()
        platform.hardwareModel = model
        platform.machineIdentifier = identifier
        platform.auxiliaryStorage = VZMacAuxiliaryStorage(url: directory.appendingPathComponent(auxiliaryStorageName))
        return platform
    }

    /// A fresh platform for installing a restore image made for `hardwareModel`: writes the
    /// hardware model and a new machine identifier, and creates (or overwrites) the auxiliary
    /// storage. Removes the installed marker first, so an interrupted install is redone.
    static func create(in directory: URL, hardwareModel: VZMacHardwareModel) throws -> VZMacPlatformConfiguration {
        let marker = directory.appendingPathComponent(installedMarkerName)
        if Posix.kind(of: marker.path) != nil {
            do {
                try FileManager.default.removeItem(at: marker)
            } catch {
                throw VHVError.wrap(error, .hypervisorError, "cannot remove \(marker.path)")
            }
        }
        let identifier = VZMacMachineIdentifier()
        try write(hardwareModel.dataRepresentation, to: directory.appendingPathComponent(hardwareModelName))
        try write(identifier.dataRepresentation, to: directory.appendingPathComponent(machineIdentifierName))

        let auxiliaryURL = directory.appendingPathComponent(auxiliaryStorageName)
        if let kind = Posix.kind(of: auxiliaryURL.path), kind != .regular {
            throw VHVError(.invalidConfig, "\(auxiliaryURL.path) is not a regular file")
        }
        let auxiliary: VZMacAuxiliaryStorage
        do {
            auxiliary = try VZMacAuxiliaryStorage(
                creatingStorageAt: auxiliaryURL,
                hardwareModel: hardwareModel,
                options: [.allowOverwrite]
            )
        } catch {
            throw VHVError.wrap(error, .hypervisorError, "cannot create the auxiliary storage \(auxiliaryURL.path)")
        }

        let platform = VZMacPlatformConfiguration()
        platform.hardwareModel = hardwareModel
        platform.machineIdentifier = identifier
        platform.auxiliaryStorage = auxiliary
        return platform
    }

    static func markInstalled(in directory: URL) throws {
        try write(Data("installed\n".utf8), to: directory.appendingPathComponent(installedMarkerName))
    }

    private static func read(_ url: URL) throws -> Data {
        guard Posix.kind(of: url.path) == .regular else {
            throw VHVError(.invalidConfig, "\(url.path) is missing or not a regular file")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw VHVError.wrap(error, .invalidConfig, "cannot read \(url.path)")
        }
    }

    private static func write(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw VHVError.wrap(error, .hypervisorError, "cannot write \(url.path)")
        }
    }
}
#endif
