import Foundation

/// Numeric query parameters, checked before use: a value that is not a whole number in its range
/// (negative, zero, huge, NaN, text) is refused with 400 and a message saying what is accepted.
public enum QueryParameters {
    /// The parameter as a whole number in `range`; `fallback` when it is absent.
    public static func integer(
        _ raw: Substring?, name: String, in range: ClosedRange<Int>, default fallback: Int? = nil
    ) throws(Queries.Failure) -> Int? {
        guard let raw else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw Queries.Failure(
                .invalid,
                "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(raw.prefix(40))\""
            )
        }
        return value
    }

    /// The parameter as a time in seconds since 1970 (fractions allowed), between 1970 and 5138.
    public static func time(_ raw: Substring?, name: String) throws(Queries.Failure) -> Date? {
        guard let raw else { return nil }
        guard let seconds = Double(raw), seconds.isFinite, (0...1e11).contains(seconds) else {
            throw Queries.Failure(
                .invalid, "\(name) must be a time in seconds since 1970 (e.g. 1767225600), not \"\(raw.prefix(40))\"")
        }
        return Date(timeIntervalSince1970: seconds)
    }
}
