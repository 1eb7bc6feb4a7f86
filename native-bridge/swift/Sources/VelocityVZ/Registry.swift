import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

/// The library's VMs by the server's id.
final class Registry {
    static let shared = Registry()

    private let lock = NSLock()
    private var machines: [String: VMController] = [:]
    /// Ids whose create is in progress (the lock is not held while a configuration is built).
    private var pending: Set<String> = []

    func create(id: String, configJSON: String) throws {
        guard Self.isUsableId(id) else {
            throw VHVError(.invalidArgument, "vm_id must be 1 to 128 bytes without control characters")
        }
        try reserve(id)
        var controller: VMController?
        defer { settle(id, controller) }

        var input = try VMConfigInput.decode(configJSON)
        input.assignMissingMACs()
        let config = try ConfigChecker.check(input)
        guard VZVirtualMachine.isSupported else {
            throw VHVError(.unsupported, "this host cannot run virtual machines (VZVirtualMachine.isSupported is false, e.g. inside a VM without nested virtualization)")
        }
        let candidate = VMController(id: id, input: input)
        try candidate.prepare(config)
        controller = candidate
    }

    func lookup(_ id: String) throws -> VMController {
        guard Self.isUsableId(id) else {
            throw VHVError(.invalidArgument, "vm_id must be 1 to 128 bytes without control characters")
        }
        lock.lock()
        defer { lock.unlock() }
        guard let controller = machines[id] else {
            throw VHVError(.notFound, "no VM with id \(id)")
        }
        return controller
    }

    func destroy(_ id: String) throws {
        let controller = try lookup(id)
        try controller.destroy()
        lock.lock()
        if machines[id] === controller { machines[id] = nil }
        lock.unlock()
    }

    private func reserve(_ id: String) throws {
        lock.lock()
        defer { lock.unlock() }
        guard machines[id] == nil, !pending.contains(id) else {
            throw VHVError(.alreadyExists, "a VM with id \(id) exists already")
        }
        pending.insert(id)
    }

    private func settle(_ id: String, _ controller: VMController?) {
        lock.lock()
        defer { lock.unlock() }
        pending.remove(id)
        if let controller { machines[id] = controller }
    }

    private static func isUsableId(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && !id.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }
}
