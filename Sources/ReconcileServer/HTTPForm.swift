import Foundation

/// The request input the web UI decodes itself (the property run in `reconcile-bench fuzz-http`
/// feeds it arbitrary text): form bodies and the `next` page after login.
public enum HTTPForm {
    /// An `application/x-www-form-urlencoded` text as fields, decoded as browsers' URLSearchParams
    /// does: `+` is a space, `%XX` a byte, an invalid escape stays as written, the bytes are UTF-8
    /// (a leading U+FEFF is kept: Foundation's `removingPercentEncoding` dropped it); a later field
    /// of the same name wins.
    public static func decode(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = parts.first else { continue }
            fields[unescape(key)] = parts.count > 1 ? unescape(parts[1]) : ""
        }
        return fields
    }

    static func unescape(_ bytes: Substring.UTF8View.SubSequence) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: byte - 48
            case 65...70: byte - 55
            case 97...102: byte - 87
            default: nil
            }
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%"), let first = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex),
                let second = bytes.index(index, offsetBy: 2, limitedBy: bytes.endIndex), second < bytes.endIndex,
                let high = hex(bytes[first]), let low = hex(bytes[second])
            {
                out.append(high << 4 | low)
                index = bytes.index(after: second)
                continue
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Only a path on this site: it starts with one `/`, and has no backslash, no whitespace or
    /// control character (browsers drop tabs and newlines from a URL, so `/\t/evil.example` would
    /// become `//evil.example`) and no non-ASCII; anything else is `/`. No open redirect.
    public static func safeNext(_ next: Substring?) -> String {
        guard let next = next.map(String.init), next.hasPrefix("/"), !next.hasPrefix("//"),
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "\\" })
        else { return "/" }
        return next
    }
}
