import ReconcileModel
import Testing

@Suite struct NodeAddressTests {
    @Test func theReachAddressDefaultsToTheTCPHostElseThePublishAddress() {
        let tcp = NodeSpec(name: "b", backend: .docker(endpoint: "tcp://10.0.0.5:2376", tls: nil))
        #expect(tcp.reachAddress(publishAddress: "192.0.2.1") == "10.0.0.5")
        #expect(tcp.bindAddress(publishAddress: "192.0.2.1") == "10.0.0.5")
        let named = NodeSpec(name: "b", backend: .docker(endpoint: "tcp://node-b.internal:2376", tls: nil))
        #expect(named.reachAddress(publishAddress: "192.0.2.1") == "node-b.internal")
        let v6 = NodeSpec(name: "b", backend: .docker(endpoint: "tcp://[fd00::5]:2376", tls: nil))
        #expect(v6.reachAddress(publishAddress: "192.0.2.1") == "fd00::5")
        let unix = NodeSpec(name: "a", backend: .docker(endpoint: "unix:///var/run/docker.sock", tls: nil))
        #expect(unix.reachAddress(publishAddress: "192.0.2.1") == "192.0.2.1")
        let process = NodeSpec(name: "p", backend: .process)
        #expect(process.reachAddress(publishAddress: "127.0.0.1") == "127.0.0.1")
        // address: wins; bindAll binds every interface but is still dialled at the address.
        let declared = NodeSpec(
            name: "b", backend: .docker(endpoint: "tcp://10.0.0.5:2376", tls: nil), address: "203.0.113.9",
            bindAll: true)
        #expect(declared.reachAddress(publishAddress: "192.0.2.1") == "203.0.113.9")
        #expect(declared.bindAddress(publishAddress: "192.0.2.1") == "0.0.0.0")
    }

    @Test func addressesAreIPsOrDNSNames() {
        for valid in ["10.0.0.5", "fd00::5", "node-b", "node-b.internal", "a.b.c.example.com."] {
            #expect(HostAddress.isValid(valid), "\(valid)")
        }
        for invalid in ["", "10.0.0.5:80", "http://x", "-node", "node_b", "a..b", "300.1.1.1", "1.2.3", "node b"] {
            #expect(!HostAddress.isValid(invalid), "\(invalid)")
        }
    }

    @Test func imagesAreMatchedToRegistriesByHost() {
        let registry = RegistrySpec(
            name: "private", server: "registry.local:5000", username: "ci", password: .environment("P"))
        #expect(RegistrySpec.host(of: "registry.local:5000/etl:2") == "registry.local:5000")
        #expect(RegistrySpec.host(of: "library/busybox:1") == "docker.io")
        #expect(RegistrySpec.host(of: "busybox") == "docker.io")
        #expect(RegistrySpec.host(of: "localhost/etl") == "localhost")
        #expect(RegistrySpec.matching("registry.local:5000/etl:2", in: [registry]) == registry)
        #expect(RegistrySpec.matching("registry.local/etl:2", in: [registry]) == nil)
        #expect(RegistrySpec.matching("etl:2", in: [registry]) == nil)
        #expect(ContainerNetwork("none") == .none && ContainerNetwork("host") == .host)
        #expect(ContainerNetwork("bridge") == .bridge && ContainerNetwork("etl") == .named("etl"))
    }
}
