import Foundation

/// Fire times in a time zone, with the daylight-saving rules of manifests/dag.yaml (`timezone`):
/// - a local time skipped by a spring-forward gap fires once, at the first instant after the gap;
/// - a local time that occurs twice (fall back) fires once, at its first occurrence, except that a
///   schedule matching every hour fires in both occurrences (every real hour).
extension CronSchedule {
    /// The first fire time strictly after `instant`, or nil when there is none within the search bound.
    public func nextFireTime(after instant: Date, in zone: TimeZone) -> Date? {
        let after = Int64((instant.timeIntervalSince1970).rounded(.down))
        guard let next = nextFireSecond(after: after, zone: ZoneOffsets(zone)) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(next))
    }

    /// The next `count` fire times strictly after `instant`, ascending.
    public func nextFireTimes(after instant: Date, in zone: TimeZone, count: Int) -> [Date] {
        let offsets = ZoneOffsets(zone)
        var result: [Date] = []
        var cursor = Int64((instant.timeIntervalSince1970).rounded(.down))
        while result.count < count, let next = nextFireSecond(after: cursor, zone: offsets) {
            result.append(Date(timeIntervalSince1970: TimeInterval(next)))
            cursor = next
        }
        return result
    }

    /// Fire times in `(lower, upper]`, ascending, at most `limit` of them.
    public func fireTimes(after lower: Date, through upper: Date, in zone: TimeZone, limit: Int) -> [Date] {
        let offsets = ZoneOffsets(zone)
        let end = Int64(upper.timeIntervalSince1970.rounded(.down))
        var result: [Date] = []
        var cursor = Int64(lower.timeIntervalSince1970.rounded(.down))
        while result.count < limit, let next = nextFireSecond(after: cursor, zone: offsets), next <= end {
            result.append(Date(timeIntervalSince1970: TimeInterval(next)))
            cursor = next
        }
        return result
    }

    /// Core search in UTC epoch seconds. Wall-clock candidates are enumerated in order and mapped to
    /// instants; near an offset change several candidates are compared, since the mapping is not
    /// monotonic there (the repeated hour) and some wall times have no instant (the gap).
    func nextFireSecond(after t: Int64, zone: ZoneOffsets) -> Int64? {
        let window: Int64 = 36 * 3600
        var lowest = Swift.min(zone.offset(at: t - window), zone.offset(at: t), zone.offset(at: t + window))
        var highest = Swift.max(zone.offset(at: t - window), zone.offset(at: t), zone.offset(at: t + window))
        lowest = Swift.min(lowest, highest)
        var local = t + lowest - 60
        var best: Int64?
        while let candidate = nextLocalMatch(atOrAfter: local) {
            if let best, candidate - highest > best { break }
            let resolution = zone.instants(forLocal: candidate, everyHour: firesEveryHour)
            highest = Swift.max(highest, resolution.highestOffset)
            for instant in resolution.instants where instant > t {
                best = Swift.min(best ?? instant, instant)
            }
            if best != nil && resolution.steady { break }
            local = candidate + 60
        }
        return best
    }
}

/// Offsets of one time zone, as plain seconds.
struct ZoneOffsets {
    let zone: TimeZone

    init(_ zone: TimeZone) { self.zone = zone }

    func offset(at instant: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    struct Resolution {
        /// The instants this wall-clock time fires at (empty never: a gap time maps to the gap's end).
        var instants: [Int64]
        /// The largest offset seen around this time.
        var highestOffset: Int64
        /// No offset change within a day and a half either side: later wall times map to later instants.
        var steady: Bool
    }

    /// Maps a wall-clock time (seconds) to the instants it denotes under the DST rules.
    func instants(forLocal local: Int64, everyHour: Bool) -> Resolution {
        let window: Int64 = 36 * 3600
        let before = offset(at: local - window)
        let after = offset(at: local + window)
        var offsets = Set([before, after])
        offsets.insert(offset(at: local - before))
        offsets.insert(offset(at: local - after))
        let valid = offsets.compactMap { candidate -> Int64? in
            let instant = local - candidate
            return offset(at: instant) == candidate ? instant : nil
        }.sorted()
        let steady = offsets.count == 1
        let highest = offsets.max() ?? before
        if valid.isEmpty {
            // A gap: the wall time was skipped. Fire at the transition, the first instant after it.
            let low = offsets.min() ?? before
            let searchFrom = Date(timeIntervalSince1970: TimeInterval(local - highest))
            if let transition = zone.nextDaylightSavingTimeTransition(after: searchFrom) {
                let seconds = Int64(transition.timeIntervalSince1970.rounded(.down))
                if seconds <= local - low {
                    return Resolution(instants: [seconds], highestOffset: highest, steady: false)
                }
            }
            return Resolution(instants: [local - low], highestOffset: highest, steady: false)
        }
        if valid.count > 1 && !everyHour {
            return Resolution(instants: [valid[0]], highestOffset: highest, steady: steady)
        }
        return Resolution(instants: valid, highestOffset: highest, steady: steady)
    }
}
