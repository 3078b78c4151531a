import ReconcileManifest
import ReconcileModel

/// libFuzzer entry point: any bytes as a manifest file, and the first line as a cron expression,
/// duration and quantities. Crashes, hangs (libFuzzer -timeout) and leaks (AddressSanitizer) fail.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifestLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let result = ManifestLoader.load([ManifestFile(path: "fuzz.yaml", contents: text)])
    for diagnostic in result.diagnostics {
        precondition(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "bad location \(diagnostic)")
        precondition(diagnostic.location.file == "fuzz.yaml")
    }
    precondition((result.state == nil) == result.diagnostics.hasErrors)
    let firstLine = String(text.prefix { $0 != "\n" }.prefix(200))
    if let cron = try? CronSchedule(parsing: firstLine), let zone = try? TimeZoneName.zone(named: "America/Vancouver") {
        _ = cron.nextFireTimes(after: .init(timeIntervalSince1970: 1_800_000_000), in: zone, count: 3)
    }
    _ = try? Timespan(parsing: firstLine)
    _ = try? MemoryQuantity(parsing: firstLine)
    _ = try? CPUQuantity(parsing: firstLine)
    return 0
}
