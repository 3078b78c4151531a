import Foundation
import ReconcileModel

/// One manifest file: its path relative to the manifest root and its text.
///
/// The loader takes files rather than a directory so the same code reads a work tree or a git tree.
public struct ManifestFile: Sendable, Hashable {
    public var path: String
    public var contents: String

    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }

    /// The diagnostic for a file whose bytes are not UTF-8 text.
    public static func notUTF8(_ path: String) -> Diagnostic {
        Diagnostic(at: SourceLocation(file: path, line: 1, column: 1), "file is not valid UTF-8; save it as UTF-8 text")
    }

    /// True for the files the format reads: `*.yaml` / `*.yml` whose path has no dot-named part.
    public static func isManifestPath(_ path: String) -> Bool {
        guard path.hasSuffix(".yaml") || path.hasSuffix(".yml") else { return false }
        // No part of the path starts with a dot (checked on the bytes: this runs for every file of
        // the tree at every poll).
        var partStarts = true
        for byte in path.utf8 {
            if partStarts, byte == UInt8(ascii: ".") { return false }
            partStarts = byte == UInt8(ascii: "/")
        }
        return true
    }
}

/// Reads every manifest file under a directory of the local file system, in sorted path order.
public enum ManifestDirectory {
    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot read manifests at \(path): \(reason)" }
    }

    /// The manifest files under `root`, sorted by relative path. Symbolic links are reported, never followed.
    /// - Returns: the files, and diagnostics for entries that cannot be read.
    public static func read(root: String) throws(ReadError) -> (files: [ManifestFile], diagnostics: [Diagnostic]) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw ReadError(path: root, reason: "no such file or directory")
        }
        let rootURL = URL(fileURLWithPath: root)
        if !isDirectory.boolValue {
            let name = rootURL.lastPathComponent
            guard let text = try readText(rootURL.path, display: root) else {
                return ([], [ManifestFile.notUTF8(name)])
            }
            return ([ManifestFile(path: name, contents: text)], [])
        }
        let ignore = ignoreRules(root: rootURL.path)
        var files: [ManifestFile] = []
        var diagnostics: [Diagnostic] = []
        var pending: [String] = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? rootURL.path : rootURL.path + "/" + relative
            let entries: [String]
            do {
                entries = try manager.contentsOfDirectory(atPath: directory)
            } catch {
                throw ReadError(path: directory, reason: "cannot list directory (\(error.localizedDescription))")
            }
            for entry in entries where !entry.hasPrefix(".") {
                let path = relative.isEmpty ? entry : relative + "/" + entry
                let full = rootURL.path + "/" + path
                let attributes = try? manager.attributesOfItem(atPath: full)
                let type = attributes?[.type] as? FileAttributeType
                if type == .typeSymbolicLink {
                    if ManifestFile.isManifestPath(path) {
                        diagnostics.append(
                            Diagnostic(
                                at: SourceLocation(file: path, line: 1, column: 1),
                                "symbolic links are not followed; replace the link with the file itself"))
                    }
                } else if type == .typeDirectory {
                    pending.append(path)
                } else if ManifestFile.isManifestPath(path) && !ignore.ignores(path) {
                    if let text = try readText(full, display: path) {
                        files.append(ManifestFile(path: path, contents: text))
                    } else {
                        diagnostics.append(ManifestFile.notUTF8(path))
                    }
                }
            }
        }
        files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return (files, diagnostics)
    }

    /// The root's `.reconcileignore` rules (none when there is no such file).
    static func ignoreRules(root: String) -> ReconcileIgnore {
        guard let data = FileManager.default.contents(atPath: root + "/" + ReconcileIgnore.fileName) else {
            return ReconcileIgnore("")
        }
        return ReconcileIgnore(String(decoding: data, as: UTF8.self))
    }

    /// Every regular file under `root` (no dot-named part, links not followed) with its size, the
    /// `.reconcileignore` rules, and a reader for the files `from:` names.
    public static func repository(root: String) -> RepositoryFiles {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            return RepositoryFiles()
        }
        let rootPath = URL(fileURLWithPath: root).path
        var sizes: [String: Int] = [:]
        var pending: [String] = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? rootPath : rootPath + "/" + relative
            for entry in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] where !entry.hasPrefix(".") {
                let path = relative.isEmpty ? entry : relative + "/" + entry
                let attributes = try? manager.attributesOfItem(atPath: rootPath + "/" + path)
                switch attributes?[.type] as? FileAttributeType {
                case .typeDirectory?: pending.append(path)
                case .typeRegular?: sizes[path] = (attributes?[.size] as? Int) ?? 0
                default: break
                }
            }
        }
        return RepositoryFiles(sizes: sizes, ignore: ignoreRules(root: rootPath)) { [sizes] path in
            guard sizes[path] != nil else { return nil }
            return manager.contents(atPath: rootPath + "/" + path)
        }
    }

    /// The file's text, or nil when it is not UTF-8.
    private static func readText(_ path: String, display: String) throws(ReadError) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(path: display, reason: "cannot read file (permission denied or not a regular file)")
        }
        return String(data: data, encoding: .utf8)
    }
}
