import Foundation

/// The C callback type of velocity_hv.h: `void (*)(const char *event_json)`.
typealias EventCallback = @convention(c) (UnsafePointer<CChar>?) -> Void

/// Delivers events to the one registered callback.
///
/// koffi runs a callback that arrives on a foreign thread by queueing it to the JavaScript thread
/// and blocking the calling thread until the JS handler returns. So events are delivered from a
/// serial queue of their own — never from a VM's queue, never from inside a call into the
/// library — and the callback is read under the lock but called after the lock is released.
/// `seq` is assigned on that serial queue when an event is delivered, so sequence numbers arrive
/// in order, one per delivered event, library-wide; events that find no callback are dropped
/// without using a number.
final class EventHub {
    static let shared = EventHub()

    private let queue = DispatchQueue(label: "dev.velocity.vz.events", qos: .utility, autoreleaseFrequency: .workItem)
    private let queueKey = DispatchSpecificKey<Bool>()
    private let condition = NSCondition()
    private var callback: EventCallback?
    private var sequence = 0
    /// The callback being called right now, if any (the queue is serial: at most one).
    private var callbackInFlight: UnsafeRawPointer?

    private init() {
        queue.setSpecific(key: queueKey, value: true)
    }

    /// Registers `newCallback` (nil unregisters).
    ///
    /// As velocity_hv.h promises, once this returns the previous callback is not called again:
    /// a call of it in progress is waited for — except on the event queue itself (a callback
    /// unregistering itself). From Node this must therefore run off the JavaScript thread
    /// (koffi's `.async`), since the call in progress waits for that thread.
    func setCallback(_ newCallback: EventCallback?) {
        condition.lock()
        let previous = Self.address(of: callback)
        callback = newCallback
        if let previous, previous != Self.address(of: newCallback),
           DispatchQueue.getSpecific(key: queueKey) == nil {
            while callbackInFlight == previous {
                condition.wait()
            }
        }
        condition.unlock()
    }

    /// Queues an event `{"type":…,"seq":…,"vm_id":…, fields…}` for delivery. Never blocks.
    func post(vmId: String, type: String, fields: [(String, JSON)]) {
        queue.async { [self] in
            condition.lock()
            guard let target = callback else {
                condition.unlock()
                return
            }
            sequence += 1
            let seq = sequence
            callbackInFlight = Self.address(of: target)
            condition.unlock()

            // Built in steps: one array literal concatenated with `fields` is a type-checking
            // hot spot (every literal element's type is inferred against both operands).
            var members: [(String, JSON)] = [("type", .string(type)), ("seq", .int(seq)), ("vm_id", .string(vmId))]
            members.append(contentsOf: fields)
            let event = JSON.object(members)
            // The pointer lives only for the duration of the call, as the header says.
            event.encoded.withCString { target($0) }

            condition.lock()
            callbackInFlight = nil
            condition.broadcast()
            condition.unlock()
        }
    }

    func postState(vmId: String, state: String) {
        post(vmId: vmId, type: "state", fields: [("state", .string(state))])
    }

    func postOp(vmId: String, opId: Int, op: String, error: VHVError?) {
        var fields: [(String, JSON)] = [("op_id", .int(opId)), ("op", .string(op)), ("ok", .bool(error == nil))]
        if let error { fields.append(("error", error.json)) }
        post(vmId: vmId, type: "op", fields: fields)
    }

    func postError(vmId: String, error: VHVError) {
        post(vmId: vmId, type: "error", fields: [("error", error.json)])
    }

    /// A C function pointer's address, to tell callbacks apart.
    private static func address(of callback: EventCallback?) -> UnsafeRawPointer? {
        guard let callback else { return nil }
        return unsafeBitCast(callback, to: UnsafeRawPointer.self)
    }
}
