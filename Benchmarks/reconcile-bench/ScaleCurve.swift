import Foundation

/// One measured curve of `reconcile-bench scale`: y against x for one or more series (ours and the
/// same-run baselines), printed as a markdown table and drawn as an SVG chart.
struct Curve {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)] = []
        /// Drawn dashed: a baseline measured in the same run, not reconcile itself.
        var baseline = false
    }

    var id: String
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// What the reader should know about how it was run (latency given to the fake, sizes skipped).
    var note: String = ""

    mutating func add(_ name: String, x: Double, y: Double, baseline: Bool = false) {
        if let index = series.firstIndex(where: { $0.name == name }) {
            series[index].points.append((x, y))
        } else {
            series.append(Series(name: name, points: [(x, y)], baseline: baseline))
        }
    }

    /// A markdown table: one row per x, one column per series.
    var table: String {
        let xs = Array(Set(series.flatMap { $0.points.map(\.x) })).sorted()
        var lines = ["| \(xLabel) | " + series.map(\.name).joined(separator: " | ") + " |"]
        lines.append("|" + String(repeating: "---|", count: series.count + 1))
        for x in xs {
            let cells = series.map { one in one.points.first { $0.x == x }.map { format($0.y) } ?? "–" }
            lines.append("| \(format(x)) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// The markdown section for docs/PERFORMANCE.md: title, note, table and the chart's image.
    var markdown: String {
        "### \(title)\n\n" + (note.isEmpty ? "" : note + "\n\n") + table + "\n\n![\(title)](perf/\(id).svg)\n"
    }
}

/// A figure with 3 significant digits, thousands grouped: 12,345 · 1.23 · 0.0123.
func format(_ value: Double) -> String {
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 1000 {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value.rounded())) ?? String(value)
    }
    if value == value.rounded(), magnitude >= 1 { return String(Int(value)) }
    let digits = max(0, 2 - Int(floor(log10(magnitude))))
    return String(format: "%.\(digits)f", value)
}
