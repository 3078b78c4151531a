import Foundation
import ReconcileDrivers
import ReconcileModel

/// Starts `count` containers through `DockerDriver` concurrently, and the same number with a loop of
/// `docker run -d` (the CLI, one after another, as a shell loop would), on the local engine.
func runDockerBenchmark(_ options: Options) async throws {
    let count = options.files == 5000 ? 50 : options.files
    let image = "reconcile-test/busybox:1"
    let driver = try DockerDriver(node: "local", endpoint: "unix:///var/run/docker.sock")
    guard try await driver.hasImage(image) else { throw BenchError("\(image) missing: run scripts/setup") }
    var driverTimes: [Double] = []
    var loopTimes: [Double] = []
    for run in 0..<options.runs {
        let tag = "bench-\(getpid())-\(run)"
        var start = DispatchTime.now().uptimeNanoseconds
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await driver.run(
                        ContainerSpec(
                            name: "\(tag)-d\(index)", image: image, command: ["/bin/sleep", "3600"],
                            resources: Resources(
                                cpu: CPUQuantity(millicores: 100), memory: MemoryQuantity(bytes: 32 << 20)),
                            labels: ["io.reconcile.bench": tag])
                    ).id
                }
            }
            var ids: [String] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        driverTimes.append(seconds(since: start))
        start = DispatchTime.now().uptimeNanoseconds
        var cliIDs: [String] = []
        for index in 0..<count {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "docker", "run", "-d", "--network", "none", "--cpus", "0.1", "--memory", "32m", "--name",
                "\(tag)-c\(index)", image, "/bin/sleep", "3600",
            ]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            cliIDs.append(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        loopTimes.append(seconds(since: start))
        // Clean up both sets through the driver, concurrently.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids + cliIDs { group.addTask { try await driver.remove(id) } }
            try await group.waitForAll()
        }
    }
    func s(_ value: Double) -> String { String(format: "%.2f s", value) }
    print("start \(count) containers (sleep, 100m cpu, 32Mi) on the local engine, \(options.runs) runs")
    print("driver, concurrent:        median \(s(median(driverTimes))) \(driverTimes.map(s))")
    print("docker run -d loop (CLI):  median \(s(median(loopTimes))) \(loopTimes.map(s))")
    print(String(format: "speed-up: %.2fx", median(loopTimes) / median(driverTimes)))
}
