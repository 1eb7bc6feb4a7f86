import Foundation
#if canImport(Virtualization)
import Virtualization
#else
import VirtualizationStandIn
#endif

/// The VM states of the API (velocity_hv.h).
enum APIState: String {
    case stopped = "STOPPED"
    case starting = "STARTING"
    case running = "RUNNING"
    case pausing = "PAUSING"
    case paused = "PAUSED"
    case resuming = "RESUMING"
    case stopping = "STOPPING"
}

/// The asynchronous operations; the raw value is the "op" field of op events.
enum VMOperation: String {
    case start
    case pause
    case resume
    case requestStop = "request_stop"
    case stop

    var verb: String {
        switch self {
        case .start: return "start"
        case .pause: return "pause"
        case .resume: return "resume"
        case .requestStop: return "request a stop of"
        case .stop: return "stop"
        }
    }
}

/// Operation ids, unique library-wide.
enum OperationIDs {
    private static let lock = NSLock()
    private static var last = 0

    static func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        last += 1
        return last
    }
}

/// One VM: its configuration, its serial queue and, once started, its VZVirtualMachine.
///
/// Threading: every framework call for the VM, every framework callback (completion handlers,
/// delegate methods, KVO) and every read or write of the mutable state below happens on `queue`.
/// The exported functions reach it with `queue.sync` for a short check-and-record step, and do
/// the framework work in a block they `queue.async`, so a call returns at once. Nothing on
/// `queue` ever waits for the event queue or for JavaScript: events are posted asynchronously.
final class VMController: NSObject, VZVirtualMachineDelegate {
    let id: String
    private let input: VMConfigInput
    private let events: EventHub
    private let queue: DispatchQueue
    private let queueKey = DispatchSpecificKey<Bool>()

    // Only touched on `queue`.
    private var state: APIState = .stopped
    private var machine: VZVirtualMachine?
    /// The MAC address of each NIC of the machine last built (the framework picks one where
    /// the configuration names none), for vhv_guest_addresses.
    private var machineMACs: [String] = []
    private var stateObservation: NSKeyValueObservation?
    /// The descriptors this library opened for the attached VM's configuration (console FIFO
    /// and log, NIC sockets): closed at detach, not whenever the framework lets go of them.
    private var runHandles: [FileHandle] = []
    /// The op of a graceful stop in progress: the VM reports STOPPING and the op completes
    /// when the guest has shut down (or fails when a forced stop supersedes it).
    private var gracefulStopOp: Int?
    /// A forced stop was accepted and has not completed yet.
    private var forcedStopInProgress = false
    private var destroyed = false
    /// A macOS installation in progress: the VM reports STARTING until it has finished.
    private var installation: Installation?

    private final class Installation {
        let startOp: Int
        var cancelOp: Int?
        var installer: AnyObject?
        var progress: Progress?

        init(startOp: Int) {
            self.startOp = startOp
        }
    }

    init(id: String, input: VMConfigInput, events: EventHub = .shared) {
        self.id = id
        self.input = input
        self.events = events
        self.queue = DispatchQueue(label: "dev.velocity.vz.vm.\(id)", qos: .userInitiated, autoreleaseFrequency: .workItem)
        super.init()
        queue.setSpecific(key: queueKey, value: true)
    }

    // MARK: - Called through the C interface (any thread except `queue`)

    /// Builds and validates the configuration once, at create, so that a configuration the
    /// framework refuses is reported as INVALID_CONFIG at once. The result is dropped (closing
    /// its descriptors); every start builds a fresh one.
    func prepare(_ config: CheckedConfig) throws {
        try onQueue {
            switch config.type {
            case .efi, .kboot:
                _ = try ConfigurationBuilder.build(config)
            case .mac:
                #if arch(arm64)
                if MacPlatform.isInstalled(in: config.directory) {
                    _ = try ConfigurationBuilder.build(config, macPlatform: try MacPlatform.load(from: config.directory))
                } else if config.restoreImage == nil {
                    throw Self.nothingToBoot(config.directory)
                }
                #else
                throw VHVError(.unsupported, "macOS guests need a Mac with Apple silicon")
                #endif
            }
        }
    }

    func currentState() throws -> APIState {
        try onQueue {
            try requireAlive()
            return state
        }
    }

    /// Each NIC's MAC address with no addresses: the framework has no view into the guest, so
    /// the server looks the MACs up in the host's DHCP leases. Before the first start the
    /// configured MACs are all there is (null where the framework will pick one).
    func guestAddresses() throws -> JSON {
        try onQueue {
            try requireAlive()
            let configured = (input.nics ?? []).map { $0.mac }
            let macs: [String?] = machineMACs.count == configured.count ? machineMACs.map { Optional($0) } : configured
            let nics = macs.map { mac -> JSON in
                .object([("mac", mac.map { JSON.string($0) } ?? .null), ("ip_addresses", .array([]))])
            }
            return .object([("vm_id", .string(id)), ("nics", .array(nics))])
        }
    }

    func start() throws -> Int {
        try onQueue {
            try requireAlive()
            guard state == .stopped else { throw refusal(.start) }
            let op = OperationIDs.next()
            setState(.starting)
            queue.async { self.performStart(op) }
            return op
        }
    }

    func pause() throws -> Int {
        try onQueue {
            try requireAlive()
            guard state == .running else { throw refusal(.pause) }
            let op = OperationIDs.next()
            setState(.pausing)
            queue.async { self.performPause(op) }
            return op
        }
    }

    func resume() throws -> Int {
        try onQueue {
            try requireAlive()
            guard state == .paused else { throw refusal(.resume) }
            let op = OperationIDs.next()
            setState(.resuming)
            queue.async { self.performResume(op) }
            return op
        }
    }

    /// Graceful stop: RUNNING -> STOPPING at once; the op completes with STOPPED, when the guest
    /// has shut down, which may take as long as the guest likes.
    func requestStop() throws -> Int {
        try onQueue {
            try requireAlive()
            guard state == .running else { throw refusal(.requestStop) }
            let op = OperationIDs.next()
            gracefulStopOp = op
            setState(.stopping)
            queue.async { self.performRequestStop(op) }
            return op
        }
    }

    /// Forced stop: RUNNING or PAUSED -> STOPPING -> STOPPED. Also cuts short a graceful stop in
    /// progress (whose op then fails with INVALID_STATE), and — beyond the header's table —
    /// cancels a macOS installation in progress, the one way to abort that long STARTING.
    func stop() throws -> Int {
        try onQueue {
            try requireAlive()
            if state == .starting, let session = installation, session.cancelOp == nil {
                let op = OperationIDs.next()
                session.cancelOp = op
                // Cancelling the installer's progress ends the installation with an error; if the
                // restore image is still loading, the cancellation is noticed when it has loaded.
                queue.async { session.progress?.cancel() }
                return op
            }
            let supersedes = state == .stopping && gracefulStopOp != nil
            guard state == .running || state == .paused || supersedes else { throw refusal(.stop) }
            if supersedes, let graceful = gracefulStopOp {
                gracefulStopOp = nil
                finish(graceful, .requestStop, VHVError(.invalidState, "the graceful stop was superseded by a forced stop"))
            }
            let op = OperationIDs.next()
            forcedStopInProgress = true
            setState(.stopping)
            queue.async { self.performStop(op) }
            return op
        }
    }

    /// Forgets the VM; only a STOPPED one. Files in its directory stay.
    func destroy() throws {
        try onQueue {
            try requireAlive()
            guard state == .stopped, installation == nil else {
                throw VHVError(.invalidState, "only a STOPPED VM can be destroyed; this one is \(state.rawValue)")
            }
            destroyed = true
            detach()
        }
    }

    // MARK: - Operations (on `queue`)

    private func performStart(_ op: Int) {
        guard !destroyed else { return }
        // The VM of an earlier run was detached when it stopped; never build a configuration
        // (which opens the console FIFO and binds the NIC sockets) while one still holds them.
        detach()
        do {
            let config = try ConfigChecker.check(input)
            switch config.type {
            case .efi, .kboot:
                boot(attach(try ConfigurationBuilder.build(config)), op)
            case .mac:
                #if arch(arm64)
                if MacPlatform.isInstalled(in: config.directory) {
                    let platform = try MacPlatform.load(from: config.directory)
                    boot(attach(try ConfigurationBuilder.build(config, macPlatform: platform)), op)
                } else {
                    try beginInstallation(op, config)
                }
                #else
                throw VHVError(.unsupported, "macOS guests need a Mac with Apple silicon")
                #endif
            }
        } catch {
            failStart(op, VHVError.wrap(error, .hypervisorError, "cannot start the VM"))
        }
    }

    private func boot(_ vm: VZVirtualMachine, _ op: Int) {
        guard vm.canStart else {
            failStart(op, VHVError(.invalidState, "the framework refuses to start the VM in its current state"))
            return
        }
        vm.start { result in
            self.onQueueAsync { $0.completed(op, .start, on: vm, Self.failure(of: result)) }
        }
    }

    private func performPause(_ op: Int) {
        guard let vm = machine, vm.canPause else {
            refuseLate(op, .pause)
            return
        }
        vm.pause { result in
            self.onQueueAsync { $0.completed(op, .pause, on: vm, Self.failure(of: result)) }
        }
    }

    private func performResume(_ op: Int) {
        guard let vm = machine, vm.canResume else {
            refuseLate(op, .resume)
            return
        }
        vm.resume { result in
            self.onQueueAsync { $0.completed(op, .resume, on: vm, Self.failure(of: result)) }
        }
    }

    /// Asks the guest to shut down (ACPI power button for Linux). The op stays open until the
    /// VM has stopped; see settleStopped().
    private func performRequestStop(_ op: Int) {
        // A forced stop may have superseded the request before it ran.
        guard gracefulStopOp == op else { return }
        guard let vm = machine, vm.canRequestStop else {
            gracefulStopOp = nil
            refuseLate(op, .requestStop)
            return
        }
        do {
            try vm.requestStop()
        } catch {
            gracefulStopOp = nil
            syncState()
            finish(op, .requestStop, VHVError.wrap(error, .hypervisorError, "the stop request failed"))
        }
    }

    private func performStop(_ op: Int) {
        guard let vm = machine, vm.canStop else {
            forcedStopInProgress = false
            if machine == nil || machine?.state == .stopped {
                // The guest shut down on its own in the meantime (and the VM was detached, or
                // is about to be): the goal is reached. The framework's .error state is not
                // this: the delegate's didStopWithError reports it, and the stop is refused.
                settleStopped()
                finish(op, .stop, nil)
            } else {
                refuseLate(op, .stop)
            }
            return
        }
        vm.stop { error in
            self.onQueueAsync { $0.completed(op, .stop, on: vm, error) }
        }
    }

    /// A completion handler fired: report the state it left, then the op (state events always
    /// precede the op event of the operation that caused them). On success the VM is in the
    /// operation's target state even if the framework's KVO notice has not arrived yet.
    private func completed(_ op: Int, _ operation: VMOperation, on vm: VZVirtualMachine, _ error: Error?) {
        if operation == .stop { forcedStopInProgress = false }
        syncState()
        // A forced stop that lost a race with the guest shutting down has still done its job;
        // one that left the framework's VM in .error has not, even though the delegate's
        // didStopWithError reports the VM STOPPED (with an error event).
        let failure = operation == .stop && vm.state == .stopped ? nil : error
        if let failure, operation == .start, state == .starting {
            // The framework leaves a VM that failed to start in .error without a delegate call.
            settleStopped()
            finish(op, operation, VHVError.wrap(failure, .hypervisorError, "\(operation.rawValue) failed"))
            return
        }
        if failure == nil {
            switch (operation, state) {
            case (.start, .starting), (.resume, .resuming):
                setState(.running)
            case (.pause, .pausing):
                setState(.paused)
            case (.stop, .stopping):
                settleStopped()
            default:
                break
            }
        }
        finish(op, operation, failure.map { VHVError.wrap($0, .hypervisorError, "\(operation.rawValue) failed") })
    }

    /// The request was accepted, but by the time it ran on the queue the VM had moved on.
    private func refuseLate(_ op: Int, _ operation: VMOperation) {
        syncState()
        if machine == nil || (operation == .start && state == .starting) { setState(.stopped) }
        finish(op, operation, VHVError(.invalidState, "cannot \(operation.verb) a VM that is \(state.rawValue)"))
    }

    /// The VM has stopped: STOPPED, then the "error" event if it stopped with an error, then the
    /// op of a graceful stop that was waiting for it.
    private func settleStopped(error: VHVError? = nil) {
        forcedStopInProgress = false
        // Closes the run's disks, console FIFO and log, and NIC sockets now, not at the next
        // start: a stopped VM's files are free for the server (clones, deletion, a new FIFO).
        detach()
        setState(.stopped)
        if let error {
            events.postError(vmId: id, error: error)
        }
        if let op = gracefulStopOp {
            gracefulStopOp = nil
            finish(op, .requestStop, error.map { VHVError($0.code, "the VM stopped before the guest shut down: \($0.message)") })
        }
    }

    private func failStart(_ op: Int, _ error: VHVError) {
        syncState()
        if state == .starting { settleStopped() }
        finish(op, .start, error)
    }

    private func finish(_ op: Int, _ operation: VMOperation, _ error: VHVError?) {
        events.postOp(vmId: id, opId: op, op: operation.rawValue, error: error)
    }

    // MARK: - The framework's VM

    private func attach(_ configuration: VZVirtualMachineConfiguration) -> VZVirtualMachine {
        detach()
        let vm = VZVirtualMachine(configuration: configuration, queue: queue)
        runHandles = Self.fileHandles(of: configuration)
        machineMACs = configuration.networkDevices.map { $0.macAddress.string }
        vm.delegate = self
        stateObservation = vm.observe(\.state, options: []) { [weak self] observed, _ in
            self?.machineStateChanged(observed)
        }
        machine = vm
        return vm
    }

    private func detach() {
        stateObservation?.invalidate()
        stateObservation = nil
        machine?.delegate = nil
        machine = nil
        for handle in runHandles {
            try? handle.close()
        }
        runHandles = []
    }

    private static func fileHandles(of configuration: VZVirtualMachineConfiguration) -> [FileHandle] {
        var handles: [FileHandle] = []
        for case let port as VZFileHandleSerialPortAttachment in configuration.serialPorts.compactMap({ $0.attachment }) {
            handles += [port.fileHandleForReading, port.fileHandleForWriting].compactMap { $0 }
        }
        for case let nic as VZFileHandleNetworkDeviceAttachment in configuration.networkDevices.compactMap({ $0.attachment }) {
            handles.append(nic.fileHandle)
        }
        return handles
    }

    private func machineStateChanged(_ vm: VZVirtualMachine) {
        onQueueAsync { controller in
            guard vm === controller.machine else { return }
            controller.syncState()
        }
    }

    /// Maps the framework's state to the API's and reports a change.
    private func syncState() {
        guard let vm = machine, installation == nil else { return }
        let next: APIState
        switch vm.state {
        case .stopped:
            settleStopped()
            return
        case .error:
            // Left to the delegate: didStopWithError says why, and a VM that failed to start
            // is settled by its completion handler.
            return
        case .running:
            next = gracefulStopOp != nil || forcedStopInProgress ? .stopping : .running
        case .paused:
            next = .paused
        case .starting:
            next = .starting
        case .pausing:
            next = .pausing
        case .resuming:
            next = .resuming
        case .stopping:
            next = .stopping
        default:
            // .saving and .restoring (macOS 14+) only follow save/restore requests, which this
            // library never makes; unknown future states keep the last reported state.
            return
        }
        setState(next)
    }

    private func setState(_ next: APIState) {
        guard next != state else { return }
        state = next
        events.postState(vmId: id, state: next.rawValue)
    }

    // MARK: - VZVirtualMachineDelegate (called on `queue`)

    /// The guest shut down (on its own, or after a graceful stop request).
    func guestDidStop(_ virtualMachine: VZVirtualMachine) {
        onQueueAsync { controller in
            guard virtualMachine === controller.machine, controller.installation == nil else { return }
            controller.settleStopped()
        }
    }

    /// The VM stopped because of an error: STOPPED, then an "error" event (velocity_hv.h).
    func virtualMachine(_ virtualMachine: VZVirtualMachine, didStopWithError error: Error) {
        onQueueAsync { controller in
            guard virtualMachine === controller.machine, controller.installation == nil else { return }
            controller.settleStopped(error: VHVError.wrap(error, .hypervisorError, "the VM stopped with an error"))
        }
    }

    // MARK: - macOS installation

    #if arch(arm64)
    /// Installs macOS from the restore image, then boots: load the image, take its most
    /// featureful configuration this host supports, create the platform files, build the VM
    /// and run VZMacOSInstaller on it. The VM reports STARTING throughout.
    private func beginInstallation(_ op: Int, _ config: CheckedConfig) throws {
        guard let imageURL = config.restoreImage else {
            throw Self.nothingToBoot(config.directory)
        }
        let session = Installation(startOp: op)
        installation = session
        // The completion handler runs on an arbitrary thread.
        VZMacOSRestoreImage.load(from: imageURL) { result in
            self.queue.async { self.restoreImageLoaded(result, session, config, imageURL) }
        }
    }

    private func restoreImageLoaded(
        _ result: Result<VZMacOSRestoreImage, Error>,
        _ session: Installation,
        _ config: CheckedConfig,
        _ imageURL: URL
    ) {
        guard installation === session else { return }
        if session.cancelOp != nil {
            endInstallation(session, Self.installationCancelled)
            return
        }
        do {
            let image: VZMacOSRestoreImage
            do {
                image = try result.get()
            } catch {
                throw VHVError.wrap(error, .invalidConfig, "cannot load the restore image \(imageURL.path)")
            }
            let version = image.operatingSystemVersion
            let versionText = "\(version.majorVersion).\(version.minorVersion).\(version.patchVersion)"
            guard let requirements = image.mostFeaturefulSupportedConfiguration,
                  requirements.hardwareModel.isSupported else {
                throw VHVError(.unsupported, "this host cannot run the macOS \(versionText) restore image \(imageURL.path)")
            }
            guard config.cpuCount >= requirements.minimumSupportedCPUCount else {
                throw VHVError(.invalidConfig, "macOS \(versionText) needs at least \(requirements.minimumSupportedCPUCount) CPUs")
            }
            guard config.memoryBytes >= requirements.minimumSupportedMemorySize else {
                let megabytes = requirements.minimumSupportedMemorySize / ConfigChecker.mebibyte
                throw VHVError(.invalidConfig, "macOS \(versionText) needs at least \(megabytes) MB of memory")
            }
            let platform = try MacPlatform.create(in: config.directory, hardwareModel: requirements.hardwareModel)
            let vm = attach(try ConfigurationBuilder.build(config, macPlatform: platform))
            // Created and started on the VM's queue, as the framework requires.
            let installer = VZMacOSInstaller(virtualMachine: vm, restoringFromImageAt: imageURL)
            session.installer = installer
            session.progress = installer.progress
            installer.install { result in
                self.onQueueAsync { $0.installationFinished(result, session, config) }
            }
        } catch {
            endInstallation(session, VHVError.wrap(error, .hypervisorError, "cannot install macOS"))
        }
    }

    private func installationFinished(_ result: Result<Void, Error>, _ session: Installation, _ config: CheckedConfig) {
        guard installation === session else { return }
        if case .failure(let error) = result {
            let reported = session.cancelOp != nil
                ? Self.installationCancelled
                : VHVError.wrap(error, .hypervisorError, "the macOS installation failed")
            endInstallation(session, reported)
            return
        }
        // A stop that came in while the installer finished cancels the start: the directory must
        // not then claim an installed system the user asked to abandon.
        if session.cancelOp != nil {
            endInstallation(session, Self.installationCancelled)
            return
        }
        do {
            try MacPlatform.markInstalled(in: config.directory)
        } catch {
            endInstallation(session, VHVError.wrap(error, .hypervisorError, "cannot record the installation"))
            return
        }
        installation = nil
        guard let vm = machine else {
            failStart(session.startOp, VHVError(.internalError, "the VM disappeared during the installation"))
            return
        }
        if vm.state == .running {
            completed(session.startOp, .start, on: vm, nil)
        } else {
            boot(vm, session.startOp)
        }
    }
    #endif

    /// Ends an installation that failed or was cancelled: stops the VM if it runs, reports
    /// STOPPED, fails the start op and completes the stop op that cancelled it, if any.
    private func endInstallation(_ session: Installation, _ error: VHVError) {
        installation = nil
        let conclude = {
            self.syncState()
            if self.state == .starting { self.setState(.stopped) }
            self.finish(session.startOp, .start, error)
            if let cancelOp = session.cancelOp {
                self.finish(cancelOp, .stop, nil)
            }
        }
        if let vm = machine, vm.canStop {
            vm.stop { _ in self.onQueueAsync { _ in conclude() } }
        } else {
            conclude()
        }
    }

    private static let installationCancelled = VHVError(.hypervisorError, "the macOS installation was cancelled by a stop request")

    private static func nothingToBoot(_ directory: URL) -> VHVError {
        VHVError(.invalidConfig, "no macOS is installed in \(directory.path) and the configuration names no mac.restore_image to install from")
    }

    // MARK: - Helpers

    private func requireAlive() throws {
        if destroyed { throw VHVError(.notFound, "no VM with id \(id)") }
    }

    private func refusal(_ operation: VMOperation) -> VHVError {
        VHVError(.invalidState, "cannot \(operation.verb) a VM that is \(state.rawValue)")
    }

    private static func failure(of result: Result<Void, Error>) -> Error? {
        if case .failure(let error) = result { return error }
        return nil
    }

    /// Runs `body` on `queue` and waits for it. Never called on `queue` by the C interface;
    /// runs inline if it were, rather than deadlock.
    /// The autorelease pool matters: the calling thread (Node's) has none of its own, and the
    /// descriptors of a dropped configuration close only when its objects are released.
    private func onQueue<T>(_ body: () throws -> T) throws -> T {
        if DispatchQueue.getSpecific(key: queueKey) != nil {
            return try autoreleasepool(invoking: body)
        }
        return try queue.sync {
            try autoreleasepool(invoking: body)
        }
    }

    /// Runs `body` on `queue`: inline when already there (framework callbacks), else async.
    private func onQueueAsync(_ body: @escaping (VMController) -> Void) {
        if DispatchQueue.getSpecific(key: queueKey) != nil {
            body(self)
        } else {
            queue.async { body(self) }
        }
    }
}
