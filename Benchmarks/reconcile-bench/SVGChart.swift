import Foundation

/// Draws a curve as a standalone SVG line chart: logarithmic x (the sizes grow by factors), linear
/// or logarithmic y (logarithmic when the values span more than two decades), one colour per
/// series, baselines dashed, a legend, axis ticks with their values.
enum SVGChart {
    static let palette = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0969da", "#57606a"]

    static func render(_ curve: Curve) -> String {
        let width = 900.0
        let height = 420.0
        let left = 80.0
        let right = 380.0  // the legend's names
        let top = 40.0
        let bottom = 60.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let points = curve.series.flatMap(\.points)
        let xs = points.map(\.x).filter { $0 > 0 }
        let ys = points.map(\.y).filter { $0 > 0 }
        guard let xMin = xs.min(), let xMax = xs.max(), let yMinAll = ys.min(), let yMaxAll = ys.max() else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
        }
        let logY = yMaxAll / yMinAll > 100
        let yLow = logY ? pow(10, floor(log10(yMinAll))) : 0
        let yHigh = logY ? pow(10, ceil(log10(yMaxAll))) : niceCeiling(yMaxAll * 1.08)
        let xLow = log10(xMin)
        let xHigh = xMax > xMin ? log10(xMax) : xLow + 1
        func px(_ x: Double) -> Double { left + (log10(max(x, xMin)) - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ y: Double) -> Double {
            let fraction =
                logY ? (log10(max(y, yLow)) - log10(yLow)) / (log10(yHigh) - log10(yLow)) : (y - yLow) / (yHigh - yLow)
            return top + plotHeight * (1 - fraction)
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="14" font-weight="bold">\(escape(curve.title))</text>

            """
        // Axes, ticks and grid.
        svg += line(left, top + plotHeight, left + plotWidth, top + plotHeight, "#333")
        svg += line(left, top, left, top + plotHeight, "#333")
        for x in Array(Set(xs)).sorted() {
            svg += line(px(x), top, px(x), top + plotHeight, "#eee")
            svg += text(px(x), top + plotHeight + 16, format(x), anchor: "middle")
        }
        let yTicks: [Double] =
            logY
            ? stride(from: log10(yLow), through: log10(yHigh), by: 1).map { pow(10, $0) }
            : (0...5).map { yLow + (yHigh - yLow) * Double($0) / 5 }
        for y in yTicks {
            svg += line(left, py(y), left + plotWidth, py(y), "#eee")
            svg += text(left - 6, py(y) + 4, format(y), anchor: "end")
        }
        svg += text(left + plotWidth / 2, height - 18, curve.xLabel + " (log scale)", anchor: "middle")
        svg +=
            "<text transform=\"translate(18 \(top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">"
            + escape(curve.yLabel + (logY ? " (log scale)" : "")) + "</text>\n"
        // Series and legend.
        for (index, series) in curve.series.enumerated() {
            let colour = palette[index % palette.count]
            let dash = series.baseline ? " stroke-dasharray=\"6 4\"" : ""
            let path = series.points.filter { $0.x > 0 && $0.y > 0 }.sorted { $0.x < $1.x }
            if path.count > 1 {
                let coordinates = path.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash) points=\"\(coordinates)\"/>\n"
            }
            for point in path {
                svg += String(
                    format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>\n", px(point.x), py(point.y),
                    colour as NSString)
            }
            let legendY = top + 8 + Double(index) * 20
            svg +=
                "<line x1=\"\(left + plotWidth + 16)\" y1=\"\(legendY)\" x2=\"\(left + plotWidth + 40)\" y2=\"\(legendY)\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
            svg += text(left + plotWidth + 46, legendY + 4, series.name, anchor: "start")
        }
        return svg + "</svg>\n"
    }

    private static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2, 2.5, 5, 10] where step * power >= value { return step * power }
        return 10 * power
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ colour: String) -> String {
        String(
            format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\"/>\n", x1, y1, x2, y2,
            colour as NSString)
    }

    private static func text(_ x: Double, _ y: Double, _ value: String, anchor: String) -> String {
        String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%@\">", x, y, anchor as NSString) + escape(value)
            + "</text>\n"
    }

    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
