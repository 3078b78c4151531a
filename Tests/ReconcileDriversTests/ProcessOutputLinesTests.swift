import Foundation
import Testing

@testable import ReconcileDrivers

/// The shim's `TIME STREAM TEXT` lines, as the process driver parses them on the bytes.
@Suite struct ProcessOutputLinesTests {
    @Test func linesKeepTheirStreamTextAndTimeAndBadLinesAreSkipped() throws {
        let text = """
            2026-12-01T12:00:00.000001Z stdout hello world
            2026-12-01T12:00:00.5Z stderr  two  spaces kept\u{20}

            not-a-time stdout skipped
            2026-12-01T12:00:01Z stdout
            2026-12-01T12:00:02Z stdout ünïcode ✓
            2026-12-01T12:00:03Z
            """
        let lines = ProcessDriver.outputLines(Data(text.utf8), since: nil)
        #expect(lines.map(\.text) == ["hello world", " two  spaces kept ", "", "ünïcode ✓"])
        #expect(lines.map(\.stream) == [.stdout, .stderr, .stdout, .stdout])
        #expect(lines.first?.time == DockerTime.parse("2026-12-01T12:00:00.000001Z"))
        let later = ProcessDriver.outputLines(Data(text.utf8), since: DockerTime.parse("2026-12-01T12:00:01Z"))
        #expect(later.map(\.text) == ["", "ünïcode ✓"])
    }
}
