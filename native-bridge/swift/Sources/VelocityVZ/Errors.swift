import Foundation

/// The error codes of velocity_hv.h.
enum ErrorCode: String {
    case invalidArgument = "INVALID_ARGUMENT"
    case invalidConfig = "INVALID_CONFIG"
    case notFound = "NOT_FOUND"
    case alreadyExists = "ALREADY_EXISTS"
    case invalidState = "INVALID_STATE"
    case unsupported = "UNSUPPORTED"
    case hypervisorError = "HYPERVISOR_ERROR"
    case internalError = "INTERNAL"
}

/// An error as it crosses the C interface: a stable code and a message for people.
struct VHVError: Error {
    let code: ErrorCode
    let message: String

    init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    var json: JSON {
        .object([("code", .string(code.rawValue)), ("message", .string(message))])
    }

    /// Wraps any error: a VHVError passes through unchanged, anything else (a framework
    /// NSError) gets `code` and a message prefixed with `context`.
    static func wrap(_ error: Error, _ code: ErrorCode, _ context: String) -> VHVError {
        if let own = error as? VHVError { return own }
        return VHVError(code, "\(context): \(describe(error))")
    }
}

/// A readable one-line description of a framework error, including the failure reason and the
/// underlying error when the framework provides them.
func describe(_ error: Error) -> String {
    if let own = error as? VHVError { return own.message }
    let nsError = error as NSError
    var text = nsError.localizedDescription
    if let reason = nsError.localizedFailureReason, !reason.isEmpty, !text.contains(reason) {
        text += " " + reason
    }
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
        let detail = underlying.localizedDescription
        if !detail.isEmpty, !text.contains(detail) {
            text += " (\(detail))"
        }
    }
    return text
}
