// VirtualizationStandIn: a TEST DOUBLE for Apple's Virtualization.framework, NOT a hypervisor
// (see Configuration.swift). This file is the fake VM: a state machine that moves through
// the framework's states on the VM's queue, with the framework's rules of which operation is
// allowed when, and a delegate told when the "guest" stops or the VM fails.
//
// What it does, and when, comes from a test script: the file `vz-standin.json` beside the EFI
// variable store (so in the VM's directory), read when the VM is created. Its fields are the
// sim library's (velocity_hv.h, "sim"), so one conformance suite drives both:
//   time_scale         multiplies every delay (start 400 ms, pause/resume 50, stop 50,
//                      request_stop 300: the guest's shutdown); default 1
//   fail               {"start"|"pause"|"resume"|"stop"|"request_stop": message}: that operation fails
//   poweroff_after_ms  the guest shuts down this long after it started running
//   crash_after_ms     the VM fails (state .error, didStopWithError) this long after it started
#if !canImport(Virtualization)
import Dispatch
import Foundation

public protocol VZVirtualMachineDelegate: NSObjectProtocol {
    func guestDidStop(_ virtualMachine: VZVirtualMachine)
    func virtualMachine(_ virtualMachine: VZVirtualMachine, didStopWithError error: Error)
}

/// The framework's delegate methods are optional.
extension VZVirtualMachineDelegate {
    public func guestDidStop(_ virtualMachine: VZVirtualMachine) {}
    public func virtualMachine(_ virtualMachine: VZVirtualMachine, didStopWithError error: Error) {}
}

public class VZVirtualMachine: NSObject {
    public enum State: Int {
        case stopped = 0
        case running = 1
        case paused = 2
        case error = 3
        case starting = 4
        case pausing = 5
        case resuming = 6
        case stopping = 7
        case saving = 8
        case restoring = 9
    }

    /// The double can always "run" a VM.
    public class var isSupported: Bool { true }

    public let queue: DispatchQueue
    public weak var delegate: VZVirtualMachineDelegate?
    /// Kept, as the framework keeps it: the descriptors and files the configuration holds stay
    /// open while the VM object lives.
    let configuration: VZVirtualMachineConfiguration
    private let script: StandInScript
    /// Bumped on every stop, so a pending power-off or crash of an earlier run does nothing.
    private var run = 0
    private var observers: [UUID: (VZVirtualMachine) -> Void] = [:]

    public private(set) var state: State = .stopped {
        didSet {
            guard state != oldValue else { return }
            for observer in Array(observers.values) { observer(self) }
        }
    }

    public init(configuration: VZVirtualMachineConfiguration, queue: DispatchQueue) {
        self.configuration = configuration
        self.queue = queue
        self.script = StandInScript.load(for: configuration)
    }

    public var canStart: Bool { state == .stopped || state == .error }
    public var canPause: Bool { state == .running }
    public var canResume: Bool { state == .paused }
    public var canStop: Bool { state == .running || state == .paused }
    public var canRequestStop: Bool { state == .running }

    public func start(completionHandler: @escaping (Result<Void, Error>) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard canStart else {
            queue.async { completionHandler(.failure(Self.refused("start", self.state))) }
            return
        }
        state = .starting
        after(script.delay(400)) {
            if let message = self.script.failure(for: "start") {
                self.state = .error
                completionHandler(.failure(VZError.failure(.internalError, message)))
                return
            }
            self.state = .running
            self.scheduleGuestEvents()
            completionHandler(.success(()))
        }
    }

    public func pause(completionHandler: @escaping (Result<Void, Error>) -> Void) {
        transition("pause", allowed: canPause, through: .pausing, to: .paused, back: .running, delay: 50) {
            completionHandler($0.map { .failure($0) } ?? .success(()))
        }
    }

    public func resume(completionHandler: @escaping (Result<Void, Error>) -> Void) {
        transition("resume", allowed: canResume, through: .resuming, to: .running, back: .paused, delay: 50) {
            completionHandler($0.map { .failure($0) } ?? .success(()))
        }
    }

    /// A forced stop: the guest gets no say.
    public func stop(completionHandler: @escaping (Error?) -> Void) {
        let before = state
        transition("stop", allowed: canStop, through: .stopping, to: .stopped, back: before, delay: 50, completionHandler)
    }

    /// Asks the guest to shut down; it does, after request_stop's delay, unless the script
    /// makes the request fail.
    public func requestStop() throws {
        dispatchPrecondition(condition: .onQueue(queue))
        guard canRequestStop else { throw Self.refused("request a stop of", state) }
        if let message = script.failure(for: "request_stop") {
            throw VZError.failure(.internalError, message)
        }
        let current = run
        after(script.delay(300)) {
            guard current == self.run, self.state == .running || self.state == .paused else { return }
            self.guestStopped()
        }
    }

    // MARK: - The fake's machinery (on `queue`)

    private func transition(
        _ name: String,
        allowed: Bool,
        through intermediate: State,
        to target: State,
        back: State,
        delay: Double,
        _ completion: @escaping (Error?) -> Void
    ) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard allowed else {
            let current = state
            queue.async { completion(Self.refused(name, current)) }
            return
        }
        state = intermediate
        after(script.delay(delay)) {
            if let message = self.script.failure(for: name) {
                self.state = back
                completion(VZError.failure(.internalError, message))
                return
            }
            if target == .stopped { self.run += 1 }
            self.state = target
            completion(nil)
        }
    }

    private func scheduleGuestEvents() {
        let current = run
        if let ms = script.crashAfterMs {
            after(ms / 1000) {
                guard current == self.run, self.state == .running else { return }
                self.run += 1
                self.state = .error
                self.delegate?.virtualMachine(self, didStopWithError: VZError.failure(.internalError, "the virtual machine stopped unexpectedly"))
            }
        }
        if let ms = script.poweroffAfterMs {
            after(ms / 1000) {
                guard current == self.run, self.state == .running else { return }
                self.guestStopped()
            }
        }
    }

    private func guestStopped() {
        run += 1
        state = .stopped
        delegate?.guestDidStop(self)
    }

    private func after(_ seconds: Double, _ body: @escaping () -> Void) {
        queue.asyncAfter(deadline: .now() + max(0, seconds), execute: DispatchWorkItem(block: body))
    }

    private static func refused(_ operation: String, _ state: State) -> VZError {
        VZError.failure(.invalidVirtualMachineStateTransition, "Invalid virtual machine state transition: cannot \(operation) a VM in state \(state).")
    }

    // MARK: - Key-value observation of `state`

    /// Foundation on Linux has no key-value observing; the double offers the one observation
    /// the library makes, `observe(\.state, options:changeHandler:)`, with NSObject's spelling.
    /// Handlers run on the VM's queue, where the state changes (as the framework's do).
    public func observe(
        _ keyPath: KeyPath<VZVirtualMachine, State>,
        options: NSKeyValueObservingOptions = [],
        changeHandler: @escaping (VZVirtualMachine, NSKeyValueObservedChange<State>) -> Void
    ) -> NSKeyValueObservation {
        let token = UUID()
        observers[token] = { vm in changeHandler(vm, NSKeyValueObservedChange(newValue: vm[keyPath: keyPath])) }
        return NSKeyValueObservation { [weak self] in
            guard let vm = self else { return }
            vm.queue.async { vm.observers[token] = nil }
        }
    }
}

public struct NSKeyValueObservingOptions: OptionSet {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let new = NSKeyValueObservingOptions(rawValue: 0x01)
    public static let old = NSKeyValueObservingOptions(rawValue: 0x02)
}

public struct NSKeyValueObservedChange<Value> {
    public let newValue: Value?
}

public final class NSKeyValueObservation {
    private var cancel: (() -> Void)?

    init(cancel: @escaping () -> Void) {
        self.cancel = cancel
    }

    public func invalidate() {
        cancel?()
        cancel = nil
    }

    deinit {
        invalidate()
    }
}

/// The test script of one VM (see the top of this file).
struct StandInScript: Decodable {
    static let fileName = "vz-standin.json"

    var timeScale: Double?
    var fail: [String: String]?
    var poweroffAfterMs: Double?
    var crashAfterMs: Double?

    enum CodingKeys: String, CodingKey {
        case fail
        case timeScale = "time_scale"
        case poweroffAfterMs = "poweroff_after_ms"
        case crashAfterMs = "crash_after_ms"
    }

    /// The script beside the configuration's EFI variable store; none (defaults) when absent.
    /// A script that does not parse is a broken test: it stops the process loudly.
    static func load(for configuration: VZVirtualMachineConfiguration) -> StandInScript {
        guard let store = (configuration.bootLoader as? VZEFIBootLoader)?.variableStore else { return StandInScript() }
        let url = store.url.deletingLastPathComponent().appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else { return StandInScript() }
        do {
            return try JSONDecoder().decode(StandInScript.self, from: data)
        } catch {
            fatalError("VirtualizationStandIn: \(url.path) is not a valid test script: \(error)")
        }
    }

    func delay(_ milliseconds: Double) -> Double {
        milliseconds * (timeScale ?? 1) / 1000
    }

    func failure(for operation: String) -> String? {
        fail?[operation]
    }
}
#endif
