/// FNV-1a, 64 bit: a short hash that is the same across runs, processes and platforms (Swift's
/// `Hasher` is seeded per process), for names and identities that are stored or compared later.
public enum StableHash {
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
