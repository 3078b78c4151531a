/// Names of manifest documents and DAG tasks: DNS labels, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63
/// characters, so they can be part of container names and host names.
public enum ResourceName {
    public static func validate(_ name: String) throws(ValueError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw ValueError("name is empty; names are DNS labels such as event-collector") }
        guard bytes.count <= 63 else {
            throw ValueError("name \"\(name)\" is \(bytes.count) characters long; at most 63 are allowed")
        }
        func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        for (index, c) in bytes.enumerated() where !(isAlnum(c) || c == 0x2D) {
            let lower = name.lowercased()
            let hint = lower != name && (try? validate(lower)) != nil ? " (did you mean \"\(lower)\"?)" : ""
            throw ValueError(
                "name \"\(name)\" has an invalid character at position \(index + 1); use lowercase letters, digits and '-'\(hint)",
                offset: index)
        }
        guard isAlnum(bytes[0]), isAlnum(bytes[bytes.count - 1]) else {
            throw ValueError("name \"\(name)\" must start and end with a lowercase letter or digit")
        }
    }
}
