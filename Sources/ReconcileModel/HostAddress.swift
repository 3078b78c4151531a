#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Host names and addresses as manifests write them.
public enum HostAddress {
    /// True for an IPv4 or IPv6 literal.
    public static func isIPLiteral(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// True for an IP literal or a DNS name (dot-separated labels of letters, digits and inner
    /// hyphens, each 1–63 characters, 253 in all).
    public static func isValid(_ text: String) -> Bool {
        if isIPLiteral(text) { return true }
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let name = text.hasSuffix(".") ? String(text.dropLast()) : text
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        // All-numeric dotted names are malformed IPv4 addresses, not host names.
        if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                        || byte == 0x2D
                }
        }
    }

    /// True for a Docker network name: letters and digits, then letters, digits, `_`, `.` or `-`.
    public static func isNetworkName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.utf8.count <= 128,
            ("0"..."9").contains(first) || ("a"..."z").contains(first) || ("A"..."Z").contains(first)
        else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "_" || scalar == "." || scalar == "-"
        }
    }
}
