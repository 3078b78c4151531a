import Foundation
import ReconcileModel
import Testing

@testable import ReconcileDrivers

/// The archive the Docker driver uploads is one GNU tar reads back exactly: names (a long one
/// through the ustar prefix), modes, contents; and no entries for folders.
@Suite struct TarArchiveTests {
    @Test func gnuTarReadsBackNamesModesAndContents() throws {
        let long = "/opt/" + String(repeating: "deep/", count: 30) + "settings.conf"
        let files = [
            ContainerFile(path: "/etc/app/config.yaml", content: Data("level: info\n".utf8), mode: 0o640),
            ContainerFile(path: "/run/secrets/token", content: Data([0, 1, 2, 255]), mode: 0o400),
            ContainerFile(path: long, content: Data(), mode: 0o644),
        ]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let archive = folder.appendingPathComponent("files.tar")
        try TarArchive.archive(files).write(to: archive)
        #expect(try Data(contentsOf: archive).count % 512 == 0)

        let listing = try run(["tar", "-tvf", archive.path])
        let lines = listing.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(listing)")
        #expect(lines.allSatisfy { $0.hasPrefix("-") }, "only files, no folder entries: \(listing)")
        #expect(lines.contains { $0.hasPrefix("-rw-r----- ") && $0.hasSuffix(" etc/app/config.yaml") })
        #expect(lines.contains { $0.hasPrefix("-r-------- ") && $0.hasSuffix(" run/secrets/token") })
        #expect(lines.contains { $0.hasSuffix(String(long.dropFirst())) })

        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        _ = try run(["tar", "-xf", archive.path, "-C", out.path])
        #expect(try Data(contentsOf: out.appendingPathComponent("etc/app/config.yaml")) == Data("level: info\n".utf8))
        #expect(try Data(contentsOf: out.appendingPathComponent("run/secrets/token")) == Data([0, 1, 2, 255]))
    }

    private func run(_ argv: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DriverError(.engine, node: "tar", operation: argv.joined(separator: " "), message: output)
        }
        return output
    }
}
