import Foundation

/// IANA time zone names (`UTC`, `America/Vancouver`, `Asia/Kolkata`, `US/Eastern`), checked against
/// the system's tz database: every zone and every link it has is accepted, a link standing for its
/// zone. ICU's list (`TimeZone.knownTimeZoneIdentifiers`) lags the tz database and misses 41 zones
/// and 113 links on Debian 13 (`Asia/Kolkata`, `Etc/UTC`, `US/Eastern`, …), so it only fills in
/// where the tz database's compiled source (`tzdata.zi`) is not installed.
public enum TimeZoneName {
    /// Zone names (mapped to themselves) and link names (mapped to their zone).
    public static let known: [String: String] = {
        var names: [String: String] = ["UTC": "UTC"]
        for identifier in TimeZone.knownTimeZoneIdentifiers { names[identifier] = identifier }
        for (name, zone) in database() { names[name] = zone }
        return names
    }()

    /// The tz database's zones and links from its compiled source, as `name: zone`.
    public static func database(path: String = "/usr/share/zoneinfo/tzdata.zi") -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        var names: [String: String] = [:]
        var links: [(String, String)] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, fields[0] == "Z" {
                names[String(fields[1])] = String(fields[1])
            } else if fields.count >= 3, fields[0] == "L" {
                links.append((String(fields[2]), String(fields[1])))
            }
        }
        // A link names a zone (links to links do not occur in tzdata.zi, but follow them anyway).
        for (name, target) in links {
            var zone = target
            var hops = 0
            while names[zone] == nil, let next = links.first(where: { $0.0 == zone })?.1, hops < 8 {
                zone = next
                hops += 1
            }
            names[name] = zone
        }
        return names
    }

    /// The zone for an IANA name (a link gives its zone: `US/Eastern` is `America/New_York`).
    /// - Throws: `ValueError` for abbreviations (`PST`) and unknown names, with a close name when one exists.
    public static func zone(named name: String) throws(ValueError) -> TimeZone {
        guard let target = known[name], let zone = TimeZone(identifier: target) ?? TimeZone(identifier: name) else {
            let lower = name.lowercased()
            let names = known.keys.sorted()
            let close =
                names.first { $0.lowercased() == lower }
                ?? names.first { $0.lowercased().hasSuffix("/" + lower.replacingOccurrences(of: " ", with: "_")) }
            let hint = close.map { " (did you mean \"\($0)\"?)" } ?? ""
            throw ValueError("unknown time zone \"\(name)\"\(hint); use an IANA name such as UTC or America/Vancouver")
        }
        return zone
    }
}
