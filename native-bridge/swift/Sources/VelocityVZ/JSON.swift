// A small JSON value with a compact, exception-free encoder.
//
// Foundation's JSONSerialization raises an Objective-C exception on values it cannot encode,
// and an exception in this library takes the whole server down, so the library writes its
// envelopes and events with this encoder instead. Object keys keep their insertion order.
//
// Sendable is declared, not inferred: values cross to the event queue, and Swift 6.0's
// inference of it for this recursive enum with tuple payloads is a cycle the compiler
// rejects ("circular reference", seen building on Linux).
enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    var encoded: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null:
            out += "null"
        case .bool(let value):
            out += value ? "true" : "false"
        case .int(let value):
            out += String(value)
        case .string(let value):
            JSON.writeString(value, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (index, field) in fields.enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(field.0, to: &out)
                out += ":"
                field.1.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// The envelope every exported operation returns (see velocity_hv.h).
enum Envelope {
    static func success(_ result: JSON) -> JSON {
        .object([("ok", .bool(true)), ("result", result)])
    }

    static func failure(_ error: VHVError) -> JSON {
        .object([("ok", .bool(false)), ("error", error.json)])
    }
}
