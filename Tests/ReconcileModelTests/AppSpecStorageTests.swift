import Foundation
import Testing

@testable import ReconcileModel

/// `AppSpec` keeps its fields in a shared box: it must still behave as a value, and encode as the
/// struct of stored fields did (the store keeps Apps' last good specs).
@Suite struct AppSpecStorageTests {
    let app = AppSpec(
        name: "web", image: "web:1", command: ["serve"], env: ["LEVEL": "info"], replicas: 2,
        ports: [PortSpec(name: "http", container: 8080, publish: 8080, mode: .http, hosts: ["web.example.com"])],
        health: nil, alerts: ["team"])

    @Test func aChangedCopyLeavesTheOriginalAlone() {
        var copy = app
        #expect(copy == app)
        copy.replicas = 5
        copy.env["LEVEL"] = "debug"
        copy.ports[0].publish = 9090
        #expect(app.replicas == 2 && app.env["LEVEL"] == "info" && app.ports[0].publish == 8080)
        #expect(copy.replicas == 5 && copy.env["LEVEL"] == "debug" && copy.ports[0].publish == 9090)
        #expect(copy != app)
        // Equal fields in separate boxes are equal, and hash alike.
        var again = copy
        again.replicas = 2
        again.env["LEVEL"] = "info"
        again.ports[0].publish = 8080
        #expect(again == app)
        #expect(again.hashValue == app.hashValue)
        #expect(Set([app, again]).count == 1)
    }

    @Test func itEncodesAsTheStructOfFieldsDidAndDecodesBack() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try #require(String(data: try encoder.encode(app), encoding: .utf8))
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]).keys
        // Every field under its own name; nil optionals (health) left out, as before.
        #expect(
            keys.sorted() == [
                "alertAfter", "alerts", "command", "env", "files", "image", "name", "network", "notifyOn", "placement",
                "ports", "pull", "replicas", "resources", "restart", "secretEnv", "update", "volumes",
            ])
        #expect(try JSONDecoder().decode(AppSpec.self, from: Data(json.utf8)) == app)
    }
}
