#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif
import Foundation

/// File-system and descriptor helpers. Everything handed to Virtualization.framework is checked
/// here first: the framework raises Objective-C exceptions (which kill the whole server) for some
/// bad inputs, such as an invalid file descriptor.
enum Posix {
    enum Kind {
        case regular, directory, fifo, socket, other
    }

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// The kind of the file at `path` (following symlinks), or nil when it does not exist.
    static func kind(of path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return kind(mode: info.st_mode)
    }

    static func kind(ofDescriptor fd: Int32) -> Kind? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return kind(mode: info.st_mode)
    }

    private static func kind(mode: mode_t) -> Kind {
        switch mode & 0o170000 {
        case 0o100000: return .regular
        case 0o040000: return .directory
        case 0o010000: return .fifo
        case 0o140000: return .socket
        default: return .other
        }
    }

    /// The canonical path (symlinks resolved; /tmp becomes /private/tmp). The framework does not
    /// cope well with symlinks in some paths (restore images), so files are handed over canonical.
    static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isAccessible(_ path: String, writable: Bool) -> Bool {
        access(path, writable ? (R_OK | W_OK) : R_OK) == 0
    }

    /// True when `fd` is an open descriptor.
    static func isOpen(_ fd: Int32) -> Bool {
        fd >= 0 && fcntl(fd, F_GETFD) != -1
    }

    /// Opens (creating if needed) a regular file for appending: the guest's serial output.
    static func openForAppending(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0o644)
        guard fd >= 0 else {
            throw VHVError(.invalidConfig, "cannot open console output \(path): \(errnoText())")
        }
        guard kind(ofDescriptor: fd) == .regular else {
            close(fd)
            throw VHVError(.invalidConfig, "console output \(path) is not a regular file")
        }
        return fd
    }

    /// Opens the FIFO that feeds the guest's serial input.
    ///
    /// Opened read-write so that the open never waits for a writer and the guest never sees
    /// end-of-file when the server's writer closes; O_NONBLOCK only guards the open and is
    /// cleared afterwards, leaving a plain blocking descriptor for the framework to read.
    static func openFIFOForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw VHVError(.invalidConfig, "cannot open console input \(path): \(errnoText())")
        }
        guard kind(ofDescriptor: fd) == .fifo else {
            close(fd)
            throw VHVError(.invalidConfig, "console input \(path) is not a FIFO")
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            let text = errnoText()
            close(fd)
            throw VHVError(.invalidConfig, "cannot configure console input \(path): \(text)")
        }
        return fd
    }

    /// The longest path a Unix-domain socket address can hold (sun_path, minus the NUL).
    static var maximumSocketPathLength: Int {
        MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
    }

    /// A datagram socket bound at `localPath` and connected to the bound socket at `peerPath`:
    /// the host side of a FILEHANDLE NIC. The peer replies to `localPath`.
    static func connectedDatagramSocket(localPath: String, peerPath: String) throws -> Int32 {
        #if canImport(Darwin)
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #else
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #endif
        guard fd >= 0 else {
            throw VHVError(.hypervisorError, "cannot create a datagram socket: \(errnoText())")
        }
        var handedOver = false
        defer { if !handedOver { close(fd) } }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)

        // A socket file left behind by an earlier run of this VM is replaced; anything else at
        // that path is not ours to delete.
        switch kind(of: localPath) {
        case nil:
            break
        case .socket?:
            unlink(localPath)
        default:
            throw VHVError(.invalidConfig, "\(localPath) exists and is not a socket")
        }
        guard withSocketAddress(localPath, { bind(fd, $0, $1) }) == 0 else {
            throw VHVError(.invalidConfig, "cannot bind a datagram socket at \(localPath): \(errnoText())")
        }

        // Apple asks for SO_RCVBUF of about four times SO_SNDBUF on file-handle network sockets.
        var sendBuffer: Int32 = 1 << 20
        var receiveBuffer: Int32 = 4 << 20
        let size = socklen_t(MemoryLayout<Int32>.size)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, size)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, size)

        guard withSocketAddress(peerPath, { connect(fd, $0, $1) }) == 0 else {
            let text = errnoText()
            unlink(localPath)
            throw VHVError(.invalidConfig, "cannot connect to the FILEHANDLE socket \(peerPath): \(text)")
        }
        guard isOpen(fd) else {
            throw VHVError(.internalError, "the FILEHANDLE socket descriptor is not valid")
        }
        handedOver = true
        return fd
    }

    /// Calls `body` with a sockaddr_un for `path` (checked to fit) and its length; returns -1 with
    /// errno = ENAMETOOLONG when the path does not fit.
    private static func withSocketAddress(
        _ path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32 {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumSocketPathLength, !bytes.contains(0) else {
            errno = ENAMETOOLONG
            return -1
        }
        var address = sockaddr_un()
        #if canImport(Darwin)
        address.sun_len = UInt8(truncatingIfNeeded: MemoryLayout<sockaddr_un>.size)
        #endif
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() {
                raw[index] = byte
            }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
