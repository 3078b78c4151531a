import Foundation
import ReconcileModel

/// A POSIX ustar archive of files, as the Docker Engine's archive upload takes it: every entry
/// owned by root, with the file's own mode. Folders have no entries of their own: the engine
/// creates missing ones (0755), and an entry for one the image has (`/etc`, `/tmp`) would reset
/// its mode and owner.
enum TarArchive {
    static func archive(_ files: [ContainerFile]) -> Data {
        var data = Data()
        for file in files.sorted(by: { $0.path < $1.path }) {
            let relative = String(file.path.drop(while: { $0 == "/" }))
            data.append(header(name: relative, size: file.content.count, mode: file.mode, type: UInt8(ascii: "0")))
            data.append(file.content)
            data.append(Data(count: (512 - file.content.count % 512) % 512))
        }
        data.append(Data(count: 1024))  // two empty blocks end the archive
        return data
    }

    /// One 512-byte header. Names longer than 100 bytes use the ustar prefix field (155 bytes).
    private static func header(name: String, size: Int, mode: Int, type: UInt8) -> Data {
        var block = [UInt8](repeating: 0, count: 512)
        var nameBytes = Array(name.utf8)
        var prefix: [UInt8] = []
        if nameBytes.count > 100, let split = nameBytes.prefix(156).lastIndex(of: UInt8(ascii: "/")) {
            prefix = Array(nameBytes[..<split])
            nameBytes = Array(nameBytes[(split + 1)...])
        }
        func put(_ bytes: [UInt8], at offset: Int, length: Int) {
            for (index, byte) in bytes.prefix(length).enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, length: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, length - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(nameBytes, at: 0, length: 100)
        put(octal(mode & 0o7777, length: 8), at: 100, length: 8)
        put(octal(0, length: 8), at: 108, length: 8)  // uid
        put(octal(0, length: 8), at: 116, length: 8)  // gid
        put(octal(size, length: 12), at: 124, length: 12)
        put(octal(0, length: 12), at: 136, length: 12)  // mtime
        put(Array("        ".utf8), at: 148, length: 8)  // checksum counted as spaces
        block[156] = type
        put(Array("ustar".utf8) + [0], at: 257, length: 6)
        put(Array("00".utf8), at: 263, length: 2)
        put(prefix, at: 345, length: 155)
        let checksum = block.reduce(0) { $0 + Int($1) }
        put(octal(checksum, length: 7) + [UInt8(ascii: " ")], at: 148, length: 8)
        return Data(block)
    }

    /// The content of the archive's first regular file (ustar: size in octal at offset 124), or nil.
    static func firstFile(in archive: Data) -> Data? {
        let bytes = [UInt8](archive)
        var offset = 0
        while offset + 512 <= bytes.count {
            let header = bytes[offset..<offset + 512]
            if header.allSatisfy({ $0 == 0 }) { return nil }
            let sizeField = bytes[(offset + 124)..<(offset + 136)].prefix { $0 != 0 && $0 != 0x20 }
            let size = Int(String(decoding: sizeField, as: UTF8.self), radix: 8) ?? 0
            let type = bytes[offset + 156]
            let start = offset + 512
            if type == UInt8(ascii: "0") || type == 0 {
                guard start + size <= bytes.count else { return nil }
                return Data(bytes[start..<start + size])
            }
            offset = start + (size + 511) / 512 * 512
        }
        return nil
    }
}
