import ArgumentParser
import Foundation
import ReconcileManifest
import ReconcileModel

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Cron schedule tools.",
        subcommands: [Next.self]
    )

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Print the next fire times of a cron expression, one RFC 3339 UTC instant per line.",
            discussion: "Exit status: 0, or 1 when the expression, zone or time is invalid."
        )

        @Argument(help: "Cron expression, e.g. \"0 3 * * *\" or @daily.")
        var expression: String

        @Option(name: .customLong("tz"), help: "IANA time zone the expression is read in.")
        var timeZone: String = "UTC"

        @Option(help: "Start after this RFC 3339 instant (default: now).")
        var after: String?

        @Option(help: "How many fire times to print (1-10000).")
        var count: Int = 5

        @OptionGroup var format: OutputOptions

        var output: OutputFormat { format.output }

        func run() throws {
            do {
                let schedule = try CronSchedule(parsing: expression)
                let zone = try TimeZoneName.zone(named: timeZone)
                guard (1...10_000).contains(count) else { throw ValueError("--count must be between 1 and 10000") }
                let start =
                    try after.map { (text: String) throws(ValueError) in
                        Date(timeIntervalSince1970: try Timestamp.parse(text))
                    } ?? Date()
                let formatter = ISO8601DateFormatter()
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.formatOptions = [.withInternetDateTime]
                let times = schedule.nextFireTimes(after: start, in: zone, count: count).map(formatter.string(from:))
                switch output {
                case .json: print(try ReportText.json(times))
                case .text: for time in times { print(time) }
                }
            } catch let error as ValueError {
                FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
