import Testing

@testable import ReconcileModel

@Suite struct TimespanTests {
    @Test(
        arguments: [
            ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("500ms", 500),
            ("1d2h3m4s5ms", 93_784_005), ("0s", 0),
        ] as [(String, Int64)])
    func parses(text: String, milliseconds: Int64) throws {
        #expect(try Timespan(parsing: text).milliseconds == milliseconds)
    }

    @Test(arguments: [
        ("30", "needs a unit"), ("", "empty duration"), ("5x", "unknown duration unit \"x\""),
        ("30m1h", "largest to smallest"), ("1h1h", "largest to smallest"), ("m5", "expected a number"),
        ("1.5h", "has a fraction"), ("99999999999999999999s", "too large"), ("-5s", "expected a number"),
    ])
    func rejects(text: String, fragment: String) {
        #expect {
            try Timespan(parsing: text)
        } throws: { error in
            (error as? ValueError)?.message.contains(fragment) == true
        }
    }

    @Test func printsCanonicalForm() throws {
        #expect(try Timespan(parsing: "90m").description == "1h30m")
        #expect(Timespan.zero.description == "0s")
        #expect(Timespan(milliseconds: 1500).description == "1s500ms")
    }
}

@Suite struct QuantityTests {
    @Test(
        arguments: [("2", 2000), ("0.5", 500), ("500m", 500), ("0.001", 1), (".25", 250), ("16", 16000)]
            as [(String, Int64)])
    func cpu(text: String, millicores: Int64) throws {
        #expect(try CPUQuantity(parsing: text).millicores == millicores)
    }

    @Test(arguments: ["", "m", "2x", "0.0005", "-1", "1.2.3", "1e3"])
    func cpuRejects(text: String) {
        #expect(throws: ValueError.self) { try CPUQuantity(parsing: text) }
    }

    @Test(
        arguments: [
            ("256Mi", 268_435_456), ("1Gi", 1_073_741_824), ("512M", 512_000_000), ("1G", 1_000_000_000),
            ("1048576", 1_048_576), ("1.5Gi", 1_610_612_736), ("2Ki", 2048), ("1k", 1000), ("1Ti", 1_099_511_627_776),
        ] as [(String, Int64)])
    func memory(text: String, bytes: Int64) throws {
        #expect(try MemoryQuantity(parsing: text).bytes == bytes)
    }

    @Test(arguments: ["", "Mi", "12Q", "1.2.3Gi", "-1Gi", "1 Gi", "99999999999Ti"])
    func memoryRejects(text: String) {
        #expect(throws: ValueError.self) { try MemoryQuantity(parsing: text) }
    }

    @Test func describesQuantities() throws {
        #expect(try MemoryQuantity(parsing: "6Gi").description == "6Gi")
        #expect(try MemoryQuantity(parsing: "3.5Gi").description == "3.5Gi")
        #expect(try CPUQuantity(parsing: "0.5").description == "500m")
        #expect(try CPUQuantity(parsing: "2").description == "2")
    }
}

@Suite struct SecretAndNameTests {
    @Test func secretReferences() throws {
        #expect(try SecretReference(parsing: "env:SMTP_PASSWORD") == .environment("SMTP_PASSWORD"))
        #expect(try SecretReference(parsing: "file:/etc/reconcile/slack-url") == .file("/etc/reconcile/slack-url"))
        #expect(throws: ValueError.self) { try SecretReference(parsing: "hunter2") }
        #expect(throws: ValueError.self) { try SecretReference(parsing: "env:") }
        #expect(throws: ValueError.self) { try SecretReference(parsing: "env:1BAD") }
        #expect(throws: ValueError.self) { try SecretReference(parsing: "file:relative/path") }
    }

    @Test(arguments: ["a", "event-collector", "x1", String(repeating: "a", count: 63), "0-9"])
    func validNames(name: String) throws {
        try ResourceName.validate(name)
    }

    @Test(arguments: ["", "-a", "a-", "A", "a_b", "a.b", String(repeating: "a", count: 64), "é"])
    func invalidNames(name: String) {
        #expect(throws: ValueError.self) { try ResourceName.validate(name) }
    }

    @Test func timeZones() throws {
        #expect(try TimeZoneName.zone(named: "America/Vancouver").identifier == "America/Vancouver")
        #expect(try TimeZoneName.zone(named: "UTC").secondsFromGMT() == 0)
        #expect {
            try TimeZoneName.zone(named: "america/vancouver")
        } throws: { error in
            (error as? ValueError)?.message.contains("did you mean \"America/Vancouver\"") == true
        }
        #expect(throws: ValueError.self) { try TimeZoneName.zone(named: "Mars/Olympus") }
    }
}
