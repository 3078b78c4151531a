import Foundation
import ReconcileModel
import ReconcileTesting
import Testing

@testable import ReconcileDrivers

/// Runs every conformance check on a driver and reports each failure by name.
func runConformance(_ driver: any ContainerDriver, _ workloads: DriverConformance.Workloads) async {
    let suite = DriverConformance(driver: driver, workloads: workloads)
    for (name, check) in DriverConformance.all {
        do {
            try await check(suite)
        } catch {
            Issue.record("\(driver.node): \(name): \(error)")
        }
    }
}

@Suite struct DriverConformanceTests {
    @Test func inMemoryDriverConforms() async throws {
        let driver = InMemoryDriver(
            node: "memory",
            capacity: Resources(cpu: CPUQuantity(millicores: 4000), memory: MemoryQuantity(bytes: 8 << 30)))
        await runConformance(driver, .inMemory)
        // The fake also hides containers without the management label, like the real drivers.
        _ = await driver.addForeignContainer(name: "by-hand")
        #expect(try await driver.list().allSatisfy { $0.name != "by-hand" })
    }

    @Test(.timeLimit(.minutes(5))) func theLocalDockerEngineConforms() async throws {
        let socket = "/var/run/docker.sock"
        try TestImage.ensure(on: socket)
        let driver = try DockerDriver(node: "local", endpoint: "unix://" + socket)
        await runConformance(driver, .busybox(image: TestImage.name))
    }

    @Test(.timeLimit(.minutes(5)), arguments: ["node-b", "node-c"])
    func anotherDockerEngineConforms(node: String) async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(node: node, endpoint: engine.endpoint, address: engine.publishAddress)
        await runConformance(driver, .busybox(image: TestImage.name))
        // A container started by hand (no management label) is never listed.
        let byHand = try Command.run([
            "docker", "-H", engine.endpoint, "run", "-d", "--network", "none", "--name", "by-hand", TestImage.name,
            "/bin/sleep", "60",
        ])
        #expect(byHand.status == 0, "\(byHand.stderr)")
        #expect(try await driver.list().allSatisfy { $0.name != "by-hand" })
        await engine.shutdownOffPool()
    }
}

@Suite struct DockerDriverTests {
    @Test(.timeLimit(.minutes(5))) func anUnreachableNodeIsReportedWithinTheTimeoutAndRecovers() async throws {
        let engine = try await DockerEngine.start()
        defer { engine.shutdown() }
        let driver = try DockerDriver(
            node: "node-d", endpoint: engine.endpoint, timeout: .seconds(2), address: engine.publishAddress)
        #expect(try await driver.info().capacity.cpu.millicores > 0)
        engine.stop()
        do {
            _ = try await driver.info()
            Issue.record("info succeeded with the engine stopped")
        } catch let error as DriverError {
            #expect(error.kind == .unreachable, "\(error)")
            #expect(error.description.contains("node node-d"))
        }
        // A node that takes the connection and never answers: without the timeout this call would
        // wait forever (the test's time limit would end it); with it, the node reads unreachable.
        // (No wall-clock bound is asserted: under the parallel suite the answer may come late.)
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(silent, $0, length) == 0 && listen(silent, 8) == 0)
                try #require(getsockname(silent, $0, &length) == 0)
            }
        }
        let stalled = try DockerDriver(
            node: "node-s", endpoint: "tcp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))", timeout: .seconds(2))
        do {
            _ = try await stalled.info()
            Issue.record("info succeeded from a node that never answers")
        } catch let error as DriverError {
            #expect(error.kind == .unreachable, "\(error)")
            #expect(error.description.contains("node node-s"))
        }
        try engine.start()
        #expect(try await driver.info().capacity.memory.bytes > 0)
        await engine.shutdownOffPool()
    }

    @Test func engineErrorsAreSurfacedWithTheEngineMessage() async throws {
        let driver = try DockerDriver(node: "local", endpoint: "unix:///var/run/docker.sock")
        do {
            _ = try await driver.run(
                ContainerSpec(
                    name: "no-image-\(UUID().uuidString.prefix(6))", image: "reconcile-test/absent:0",
                    command: ["/bin/true"]))
            Issue.record("ran a missing image")
        } catch let error as DriverError {
            #expect(error.kind == .notFound, "\(error)")
            #expect(error.message.contains("reconcile-test/absent"), "\(error.message)")
        }
        do {
            try await driver.pull(
                "127.0.0.1:1/reconcile-test/absent:0",
                auth: RegistryAuth(username: "u", password: .environment("PATH"), server: "127.0.0.1:1"))
            Issue.record("pulled from a registry that does not exist")
        } catch let error as DriverError {
            #expect(error.kind == .engine || error.kind == .notFound, "\(error)")
            #expect(error.message.contains("127.0.0.1:1"), "\(error.message)")
        }
    }

    @Test func aContainerNeedsAnImageOnDocker() async throws {
        let driver = try DockerDriver(node: "local", endpoint: "unix:///var/run/docker.sock")
        await #expect(throws: DriverError.self) {
            _ = try await driver.run(ContainerSpec(name: "no-image", command: ["/bin/true"]))
        }
    }

    @Test func logStreamFramesAreParsed() {
        var data = Data()
        for (stream, text) in [(1, "2026-11-27T07:50:44.435526434Z hello\n"), (2, "2026-11-27T07:50:45Z oops\n")] {
            let payload = Data(text.utf8)
            data.append(contentsOf: [UInt8(stream), 0, 0, 0])
            withUnsafeBytes(of: UInt32(payload.count).bigEndian) { data.append(contentsOf: $0) }
            data.append(payload)
        }
        let lines = DockerLogStream.lines(from: data)
        #expect(lines.map(\.text) == ["hello", "oops"])
        #expect(lines.map(\.stream) == [.stdout, .stderr])
        #expect(abs(lines[0].time.timeIntervalSince1970 - 1_795_765_844.435526) < 0.001)
    }

    /// Lines split across frames (a character's bytes too), the two streams interleaved, and a
    /// frame of many lines.
    @Test func logStreamLinesSpanFrames() {
        func frame(_ stream: UInt8, _ bytes: some Sequence<UInt8>) -> Data {
            let payload = Data(bytes)
            var data = Data([stream, 0, 0, 0])
            withUnsafeBytes(of: UInt32(payload.count).bigEndian) { data.append(contentsOf: $0) }
            return data + payload
        }
        let long = "2026-11-27T07:50:44Z " + String(repeating: "é", count: 5_000) + "\n"
        let bytes = Array(long.utf8)
        var data = Data()
        // The long line in frames of 7 bytes (splitting each two-byte "é" now and then), with a
        // stderr line between every pair.
        var offset = 0
        var frames = 0
        while offset < bytes.count {
            data += frame(1, bytes[offset..<min(offset + 7, bytes.count)])
            offset += 7
            frames += 1
            if frames % 2 == 0 { data += frame(2, Array("2026-11-27T07:50:45Z e\(frames)\n".utf8)) }
        }
        let many = (0..<3_000).map { "2026-11-27T07:50:46Z line \($0)\n" }.joined()
        data += frame(1, Array(many.utf8))
        data += frame(2, Array("2026-11-27T07:50:47Z unfinished".utf8))
        let lines = DockerLogStream.lines(from: data)
        let out = lines.filter { $0.stream == .stdout }.map(\.text)
        let err = lines.filter { $0.stream == .stderr }.map(\.text)
        #expect(out.first == String(repeating: "é", count: 5_000))
        #expect(out.dropFirst().elementsEqual((0..<3_000).map { "line \($0)" }))
        #expect(err.count == frames / 2 + 1)
        #expect(err.last == "unfinished")
        #expect(err.dropLast().elementsEqual(stride(from: 2, through: frames, by: 2).map { "e\($0)" }))
    }
}
