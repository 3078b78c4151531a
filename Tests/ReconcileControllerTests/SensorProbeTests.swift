import Foundation
import ReconcileAlerts
import ReconcileModel
import ReconcileTesting
import Testing

/// One poll of each kind of sensor condition, against real files, a real HTTP server on loopback
/// and real commands.
@Suite struct SensorProbeTests {
    func sensor(_ condition: SensorSpec.Condition) -> SensorSpec {
        SensorSpec(condition: condition, interval: .seconds(2), timeout: .minutes(1))
    }

    @Test func aFileSensorHoldsOnceThePathExists() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("landed-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let before = await SensorProbe.poll(sensor(.file(path: path)))
        #expect(!before.held && before.detail == "\(path) does not exist")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        #expect(await SensorProbe.poll(sensor(.file(path: path))).held)
    }

    @Test func anHTTPSensorHoldsOnTheExpectedStatusOnly() async throws {
        let backend = try await HTTPTestBackend.start("api")
        let url = "http://127.0.0.1:\(backend.port)/ready"
        #expect(await SensorProbe.poll(sensor(.http(url: url, expect: 200))).held)
        let other = await SensorProbe.poll(sensor(.http(url: url, expect: 204)))
        #expect(!other.held && other.detail == "GET answered 200, expected 204")
        // Its own connection each time, closed (like the health probes): nothing stays open.
        try await Task.sleep(for: .milliseconds(200))
        #expect(backend.stats.open == 0)
        await backend.stop()
        let down = await SensorProbe.poll(sensor(.http(url: url, expect: 200)))
        #expect(!down.held && down.detail.hasPrefix("GET failed"), "\(down.detail)")
    }

    @Test(.timeLimit(.minutes(5))) func aCommandSensorHoldsWhenItExitsZeroAndIsCutAtThePollTimeout() async throws {
        #expect(await SensorProbe.poll(sensor(.command(["/bin/sh", "-c", "exit 0"]))).held)
        let failing = await SensorProbe.poll(sensor(.command(["/bin/sh", "-c", "echo not yet; exit 3"])))
        #expect(!failing.held && failing.detail == "exited 3: not yet", "\(failing.detail)")
        // The poll's time limit is the interval (2 s here): a command that outlives it is killed.
        // (Had it run to its end it would have exited 0 and held; no wall-clock bound is asserted.)
        let slow = await SensorProbe.poll(sensor(.command(["/bin/sh", "-c", "sleep 600"])))
        #expect(!slow.held && slow.detail == "did not finish", "\(slow.detail)")
    }
}
