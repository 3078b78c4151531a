/// CPU cores in thousandths (`500m` = 500, `2` = 2000).
public struct CPUQuantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var millicores: Int64

    public init(millicores: Int64) { self.millicores = millicores }

    public static func < (lhs: CPUQuantity, rhs: CPUQuantity) -> Bool { lhs.millicores < rhs.millicores }

    /// Parses `2`, `0.5` or `500m`.
    public init(parsing text: String) throws(ValueError) {
        let hint = "write cores as 2, 0.5 or 500m"
        if text.hasSuffix("m") {
            let digits = text.dropLast()
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else {
                throw ValueError("invalid cpu \"\(text)\"; \(hint)")
            }
            self.millicores = value
            return
        }
        guard let scaled = DecimalText.scaled(text, by: 1000) else {
            throw ValueError("invalid cpu \"\(text)\"; \(hint)")
        }
        guard scaled.exact else {
            throw ValueError("cpu \"\(text)\" is finer than a thousandth of a core; \(hint)")
        }
        self.millicores = scaled.value
    }

    public var description: String {
        millicores % 1000 == 0 ? "\(millicores / 1000)" : "\(millicores)m"
    }
}

/// Memory in bytes. Binary suffixes `Ki Mi Gi Ti`, decimal `k M G T`, plain bytes without.
public struct MemoryQuantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func < (lhs: MemoryQuantity, rhs: MemoryQuantity) -> Bool { lhs.bytes < rhs.bytes }

    static let suffixes: [(String, Int64)] = [
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
        ("k", 1000), ("K", 1000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
    ]

    /// Parses `256Mi`, `1Gi`, `512M`, `1.5G` or `1048576`.
    public init(parsing text: String) throws(ValueError) {
        let hint = "write memory as 256Mi, 1Gi, 512M, 1G or a number of bytes"
        var number = Substring(text)
        var multiplier: Int64 = 1
        for (suffix, size) in Self.suffixes where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            multiplier = size
            break
        }
        if multiplier == 1, let last = text.last, last.isLetter {
            throw ValueError(
                "unknown memory suffix in \"\(text)\"; suffixes are Ki Mi Gi Ti (binary) and k M G T (decimal)")
        }
        guard let scaled = DecimalText.scaled(number, by: multiplier) else {
            throw ValueError("invalid memory \"\(text)\"; \(hint)")
        }
        self.bytes = scaled.exact ? scaled.value : scaled.value + 1
    }

    /// The shortest exact form with at most one decimal: `256Mi`, `3.5Gi`, `1280Mi`, `1000`.
    public var description: String {
        for (suffix, size) in [("Ti", Int64(1) << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        where bytes >= size {
            if bytes % size == 0 { return "\(bytes / size)\(suffix)" }
            let (tenfold, overflow) = bytes.multipliedReportingOverflow(by: 10)
            if !overflow, tenfold % size == 0 {
                let tenths = tenfold / size
                return "\(tenths / 10).\(tenths % 10)\(suffix)"
            }
        }
        return "\(bytes)"
    }
}

/// CPU and memory requests (which are also the hard limits) or a node's capacity.
public struct Resources: Sendable, Hashable, Codable {
    public var cpu: CPUQuantity
    public var memory: MemoryQuantity

    public init(cpu: CPUQuantity, memory: MemoryQuantity) {
        self.cpu = cpu
        self.memory = memory
    }

    public static let zero = Resources(cpu: CPUQuantity(millicores: 0), memory: MemoryQuantity(bytes: 0))

    public static func + (lhs: Resources, rhs: Resources) -> Resources {
        Resources(
            cpu: CPUQuantity(millicores: lhs.cpu.millicores + rhs.cpu.millicores),
            memory: MemoryQuantity(bytes: lhs.memory.bytes + rhs.memory.bytes))
    }

    /// What an App or task reserves when its manifest names no `resources`.
    public static let defaultRequest = Resources(
        cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 128 << 20))
}

/// Non-negative decimal numbers without floating point, so `0.1` cores is exactly 100m.
enum DecimalText {
    /// `text * factor` as an integer; `exact` is false when digits were cut off (rounded down).
    static func scaled(_ text: Substring, by factor: Int64) -> (value: Int64, exact: Bool)? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !(whole.isEmpty && parts.count == 1) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard whole.allSatisfy({ $0.isASCII && $0.isNumber }), fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
            !(whole.isEmpty && fraction.isEmpty), fraction.count <= 18
        else { return nil }
        let wholeValue = whole.isEmpty ? 0 : Int64(whole)
        guard let wholeValue else { return nil }
        var (value, overflow) = wholeValue.multipliedReportingOverflow(by: factor)
        guard !overflow else { return nil }
        var exact = true
        if !fraction.isEmpty, let fractionValue = Int64(fraction) {
            var denominator: Int64 = 1
            for _ in 0..<fraction.count { denominator *= 10 }
            // fractionValue * factor / denominator, without overflow for the factors used here.
            let high = (fractionValue / denominator) * factor
            let low = fractionValue % denominator
            let (lowScaled, overflowLow) = low.multipliedReportingOverflow(by: factor)
            let part: Int64
            if overflowLow {
                part = high + Int64((Double(low) / Double(denominator)) * Double(factor))
                exact = false
            } else {
                part = high + lowScaled / denominator
                exact = lowScaled % denominator == 0
            }
            (value, overflow) = value.addingReportingOverflow(part)
            guard !overflow else { return nil }
        }
        return (value, exact)
    }

    static func scaled(_ text: String, by factor: Int64) -> (value: Int64, exact: Bool)? {
        scaled(Substring(text), by: factor)
    }
}
