import Foundation
import Testing

@testable import ReconcileDrivers

/// The hand-written RFC 3339 parser every collected log line goes through agrees with Foundation's
/// ISO 8601 formatter, and refuses what is not a time.
@Suite struct DockerTimeTests {
    @Test func agreesWithTheISO8601FormatterOnGeneratedTimes() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<5_000 {
            let seconds = Int.random(in: 0..<4_102_444_800, using: &generator)  // 1970 to 2100
            let offsetMinutes = [0, 60, -300, 330, 14 * 60, -12 * 60, 45][Int.random(in: 0..<7, using: &generator)]
            formatter.timeZone = TimeZone(secondsFromGMT: offsetMinutes * 60)!
            var text = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            let digits = Int.random(in: 0...9, using: &generator)
            var fraction = 0.0
            if digits > 0 {
                let value = Int.random(in: 0..<Int(pow(10, Double(digits))), using: &generator)
                let padded = String(repeating: "0", count: digits - String(value).count) + String(value)
                fraction = Double("0." + padded)!
                text.insert(contentsOf: "." + padded, at: text.index(text.startIndex, offsetBy: 19))
            }
            let parsed = try #require(DockerTime.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince1970 - (Double(seconds) + fraction)) < 1e-6, "\(text)")
        }
        // Docker's own form: nanoseconds and Z; a lower-case z and a space separator are RFC 3339 too.
        let docker = try #require(DockerTime.parse("2026-12-01T12:00:00.123456789Z"))
        #expect(abs(docker.timeIntervalSince1970 - 1_796_126_400.123456789) < 1e-6)
        #expect(DockerTime.parse("2024-02-29 23:59:59z")?.timeIntervalSince1970 == 1_709_251_199)
    }

    @Test(arguments: [
        "0001-01-01T00:00:00Z",  // Docker's zero time: never started
        "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T00:60:00Z",
        "2026-12-01T00:00:00", "2026-12-01T00:00:00.Z", "2026-12-01T00:00:00Zx", "2026-12-01T00:00:00+0100",
        "2026-12-01X00:00:00Z", "2026-1a-01T00:00:00Z", "not a time at all, no", "", "2026-12-01",
    ])
    func refusesWhatIsNotATime(_ text: String) {
        #expect(DockerTime.parse(text) == nil)
    }
}

private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        var value = state
        value ^= value >> 33
        return value &* 0xff51_afd7_ed55_8ccd
    }
}
