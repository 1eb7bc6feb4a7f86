#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif
import Foundation

// The C interface of native-bridge/include/velocity_hv.h.
//
// Every exported function catches every Swift error and answers with a JSON envelope; strings
// handed out are allocated with strdup and released by vhv_free_string (free). The body of
// each runs in an autorelease pool, since the calling thread (Node's) has none.

private let abiVersion: Int32 = 2

private func respond(_ body: () throws -> JSON) -> UnsafeMutablePointer<CChar>? {
    let envelope: JSON = autoreleasepool {
        do {
            return Envelope.success(try body())
        } catch let error as VHVError {
            return Envelope.failure(error)
        } catch {
            return Envelope.failure(VHVError(.internalError, describe(error)))
        }
    }
    return strdup(envelope.encoded)
}

private func argument(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let pointer else {
        throw VHVError(.invalidArgument, "\(name) is NULL")
    }
    return String(cString: pointer)
}

private func stateResult(_ id: String, _ state: APIState) -> JSON {
    .object([("vm_id", .string(id)), ("state", .string(state.rawValue))])
}

private func opResult(_ opId: Int) -> JSON {
    .object([("op_id", .int(opId))])
}

@_cdecl("vhv_abi_version")
public func vhv_abi_version() -> Int32 {
    abiVersion
}

@_cdecl("vhv_host_capabilities")
public func vhv_host_capabilities() -> UnsafeMutablePointer<CChar>? {
    respond { HostCapabilities.describe() }
}

@_cdecl("vhv_set_event_callback")
public func vhv_set_event_callback(_ callback: (@convention(c) (UnsafePointer<CChar>?) -> Void)?) -> Int32 {
    EventHub.shared.setCallback(callback)
    return 0
}

@_cdecl("vhv_create")
public func vhv_create(_ vmId: UnsafePointer<CChar>?, _ configJSON: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond {
        let id = try argument(vmId, "vm_id")
        let config = try argument(configJSON, "config_json")
        try Registry.shared.create(id: id, configJSON: config)
        return stateResult(id, .stopped)
    }
}

@_cdecl("vhv_start")
public func vhv_start(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { opResult(try Registry.shared.lookup(try argument(vmId, "vm_id")).start()) }
}

@_cdecl("vhv_pause")
public func vhv_pause(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { opResult(try Registry.shared.lookup(try argument(vmId, "vm_id")).pause()) }
}

@_cdecl("vhv_resume")
public func vhv_resume(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { opResult(try Registry.shared.lookup(try argument(vmId, "vm_id")).resume()) }
}

@_cdecl("vhv_request_stop")
public func vhv_request_stop(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { opResult(try Registry.shared.lookup(try argument(vmId, "vm_id")).requestStop()) }
}

@_cdecl("vhv_stop")
public func vhv_stop(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { opResult(try Registry.shared.lookup(try argument(vmId, "vm_id")).stop()) }
}

@_cdecl("vhv_state")
public func vhv_state(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond {
        let id = try argument(vmId, "vm_id")
        return stateResult(id, try Registry.shared.lookup(id).currentState())
    }
}

@_cdecl("vhv_capture_display")
public func vhv_capture_display(
    _ vmId: UnsafePointer<CChar>?,
    _ displayIndex: UInt32,
    _ path: UnsafePointer<CChar>?
) -> UnsafeMutablePointer<CChar>? {
    respond {
        _ = try Registry.shared.lookup(try argument(vmId, "vm_id"))
        throw VHVError(
            .unsupported,
            "the vz driver cannot capture frames headlessly: Virtualization.framework has no screenshot API without a VZVirtualMachineView on the main thread"
        )
    }
}

@_cdecl("vhv_guest_addresses")
public func vhv_guest_addresses(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond { try Registry.shared.lookup(try argument(vmId, "vm_id")).guestAddresses() }
}

@_cdecl("vhv_destroy")
public func vhv_destroy(_ vmId: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    respond {
        let id = try argument(vmId, "vm_id")
        try Registry.shared.destroy(id)
        return stateResult(id, .stopped)
    }
}

@_cdecl("vhv_free_string")
public func vhv_free_string(_ string: UnsafeMutablePointer<CChar>?) {
    free(string)
}
