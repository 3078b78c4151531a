/// What a task hands downstream: `KEY=VALUE` lines it writes to the file named by `$RECONCILE_OUTPUTS`.
/// Small by design (a row count, a file name), like Airflow's XCom or Argo's output parameters: at
/// most `maxBytes` in all and `maxKeys` keys; keys are letters, digits and `_` (not starting with a
/// digit); a later line for a key replaces an earlier one; blank lines and `#` comments are skipped.
public enum TaskOutputs {
    public static let maxBytes = 64 * 1024
    public static let maxKeys = 100
    /// Where a Docker task writes them (process tasks get a path in their own folder).
    public static let containerPath = "/tmp/reconcile-outputs"

    public static func parse(_ bytes: [UInt8]) throws(ValueError) -> [String: String] {
        guard bytes.count <= maxBytes else {
            throw ValueError(
                "the outputs file holds \(bytes.count) bytes; at most \(maxBytes) are taken (pass large data in files or volumes)"
            )
        }
        var values: [String: String] = [:]
        // Lines split on bytes: "\r\n" is one Character, so a String split on "\n" would miss it.
        for (index, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: raw.last == 0x0D ? raw.dropLast() : raw, as: UTF8.self)[...]
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ValueError("outputs line \(index + 1) is not KEY=VALUE: \"\(line.prefix(80))\"")
            }
            let key = String(line[..<equals])
            guard isKey(key) else {
                throw ValueError(
                    "outputs line \(index + 1): \"\(key.prefix(80))\" is not a key (letters, digits and _, not starting with a digit, at most 64)"
                )
            }
            values[key] = String(line[line.index(after: equals)...])
            guard values.count <= maxKeys else {
                throw ValueError("the outputs file sets more than \(maxKeys) keys")
            }
        }
        return values
    }

    static func isKey(_ key: String) -> Bool {
        let scalars = key.unicodeScalars
        guard let first = scalars.first, scalars.count <= 64, !("0"..."9").contains(first) else { return false }
        return scalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }
}
