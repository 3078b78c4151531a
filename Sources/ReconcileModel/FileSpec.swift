import Foundation

/// A file put into each of an App's or task's containers before it starts (`files:`).
public struct FileSpec: Sendable, Hashable, Codable {
    /// Where the file's bytes come from.
    public enum Source: Sendable, Hashable, Codable {
        /// A file of the repository, by its path relative to the manifest root, with its bytes as
        /// read from the commit in force (filled in when the commit is loaded).
        case repository(path: String, content: Data)
        /// Text written in the manifest.
        case inline(String)
        /// Read on the controller host when the container starts; never stored.
        case secret(SecretReference)
    }

    /// Absolute path inside the container (on a process node: under the process's `$FILES`).
    public var path: String
    public var source: Source
    /// Permission bits, e.g. 0o644.
    public var mode: Int

    public init(path: String, source: Source, mode: Int? = nil) {
        self.path = path
        self.source = source
        self.mode = mode ?? source.defaultMode
    }

    /// The largest file `files:` takes (from the repository or inline): configuration, not data.
    public static let maximumSize = 1 << 20

    /// A short stable identity of what the file holds (the content for repository and inline
    /// files, the reference for a secret), for the spec hash and the plan.
    public var identity: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
        }
        switch source {
        case .repository(let path, let content):
            mix("from:\(path)\u{1}".utf8)
            mix(content)
        case .inline(let text): mix("content:\(text)".utf8)
        case .secret(let reference): mix("secret:\(reference)".utf8)
        }
        mix("\u{1}mode=\(String(mode, radix: 8))".utf8)
        return String(hash, radix: 16)
    }
}

extension FileSpec.Source {
    /// Secrets are readable by their owner only; other files by everyone.
    public var defaultMode: Int {
        if case .secret = self { return 0o400 }
        return 0o644
    }

    /// The repository path a `from:` file names.
    public var repositoryPath: String? {
        if case .repository(let path, _) = self { return path }
        return nil
    }
}

extension FileSpec {
    /// What changes from one list of files to another, by path in path order: `added`, `changed`
    /// (content, mode or reference) or `removed`.
    public static func changes(from old: [FileSpec], to new: [FileSpec]) -> [(path: String, change: String)] {
        let before = Dictionary(old.map { ($0.path, $0.identity) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.map { ($0.path, $0.identity) }, uniquingKeysWith: { a, _ in a })
        return Set(before.keys).union(after.keys).sorted().compactMap { path in
            switch (before[path], after[path]) {
            case (nil, _?): (path, "added")
            case (_?, nil): (path, "removed")
            case (let a?, let b?) where a != b: (path, "changed")
            default: nil
            }
        }
    }
}

/// The bytes of a file for one start: the resolved secret or the stored content.
public struct ContainerFile: Sendable, Hashable {
    public var path: String
    public var content: Data
    public var mode: Int
    /// A resolved secret: drivers keep its bytes off the state directory.
    public var secret: Bool

    public init(path: String, content: Data, mode: Int, secret: Bool = false) {
        self.path = path
        self.content = content
        self.mode = mode
        self.secret = secret
    }
}
