import Foundation

/// IANA time zone names (`UTC`, `America/Vancouver`), checked against the zone database.
public enum TimeZoneName {
    private static let known: Set<String> = Set(TimeZone.knownTimeZoneIdentifiers).union(["UTC"])

    /// The zone for an IANA name.
    /// - Throws: `ValueError` for abbreviations (`PST`) and unknown names, with a close name when one exists.
    public static func zone(named name: String) throws(ValueError) -> TimeZone {
        guard known.contains(name), let zone = TimeZone(identifier: name) else {
            let lower = name.lowercased()
            let close =
                known.first { $0.lowercased() == lower }
                ?? known.first { $0.lowercased().hasSuffix("/" + lower.replacingOccurrences(of: " ", with: "_")) }
            let hint = close.map { " (did you mean \"\($0)\"?)" } ?? ""
            throw ValueError("unknown time zone \"\(name)\"\(hint); use an IANA name such as UTC or America/Vancouver")
        }
        return zone
    }
}
