/// `.reconcileignore` at the manifest root: paths (gitignore syntax) that are not manifests, such
/// as configuration files written in YAML or a folder of test fixtures.
///
/// Supported: comments (`#`), blank lines, negation (`!`), a trailing `/` for folders only, a
/// leading or inner `/` anchoring the pattern at the root, `*`, `?`, `[a-z]` / `[!a-z]` classes,
/// `**` for any number of folders, and `\` escapes. Unlike git, a negated pattern can re-include a
/// file inside an ignored folder.
public struct ReconcileIgnore: Sendable {
    public static let fileName = ".reconcileignore"

    struct Rule: Sendable {
        var pattern: [UInt8]
        var negated: Bool
        var foldersOnly: Bool
        var anchored: Bool
    }

    let rules: [Rule]

    public init(_ text: String) {
        var rules: [Rule] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine)
            // Trailing spaces are dropped unless escaped.
            while line.hasSuffix(" ") && !line.hasSuffix("\\ ") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            var negated = false
            if line.hasPrefix("!") {
                negated = true
                line = line.dropFirst()
            } else if line.hasPrefix("\\!") || line.hasPrefix("\\#") {
                line = line.dropFirst()
            }
            var foldersOnly = false
            if line.hasSuffix("/") {
                foldersOnly = true
                line = line.dropLast()
            }
            let anchored = line.contains("/")
            if line.hasPrefix("/") { line = line.dropFirst() }
            if line.isEmpty { continue }
            rules.append(
                Rule(pattern: Array(line.utf8), negated: negated, foldersOnly: foldersOnly, anchored: anchored))
        }
        self.rules = rules
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// True when `path` (a file, relative to the root) is ignored: the last rule that matches it or
    /// one of its folders decides.
    public func ignores(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        // The path's folders and the path itself, each as a prefix and as its last part.
        var prefixes: [(end: Int, start: Int, folder: Bool)] = []
        var start = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "/") {
            prefixes.append((index, start, true))
            start = index + 1
        }
        prefixes.append((bytes.count, start, false))
        var ignored = false
        for rule in rules {
            let matches = prefixes.contains { prefix in
                if rule.foldersOnly && !prefix.folder { return false }
                let subject = rule.anchored ? bytes[0..<prefix.end] : bytes[prefix.start..<prefix.end]
                return Glob.matches(rule.pattern[...], subject)
            }
            if matches { ignored = !rule.negated }
        }
        return ignored
    }
}

/// Shell-style matching of a path against a pattern (`*` and `?` stop at `/`, `**` does not).
enum Glob {
    static let slash = UInt8(ascii: "/")
    static let star = UInt8(ascii: "*")

    static func matches(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var pattern = pattern
        var text = text
        while let head = pattern.first {
            if head == star {
                if pattern.dropFirst().first == star {
                    // "**": any folders. "**/x" also matches "x" at this level.
                    var rest = pattern.dropFirst(2)
                    if rest.first == slash {
                        rest = rest.dropFirst()
                        if matches(rest, text) { return true }
                        var remaining = text
                        while let index = remaining.firstIndex(of: slash) {
                            remaining = remaining[(index + 1)...]
                            if matches(rest, remaining) { return true }
                        }
                        return false
                    }
                    // Trailing "**" (or "**" glued to text): everything that is left.
                    if rest.isEmpty { return true }
                    var remaining = text
                    while true {
                        if matches(rest, remaining) { return true }
                        guard !remaining.isEmpty else { return false }
                        remaining = remaining.dropFirst()
                    }
                }
                let rest = pattern.dropFirst()
                var remaining = text
                while true {
                    if matches(rest, remaining) { return true }
                    guard let next = remaining.first, next != slash else { return false }
                    remaining = remaining.dropFirst()
                }
            }
            guard let character = text.first else { return false }
            switch head {
            case UInt8(ascii: "?"):
                guard character != slash else { return false }
                pattern = pattern.dropFirst()
            case UInt8(ascii: "["):
                if let (matched, rest) = matchClass(pattern.dropFirst(), character) {
                    guard character != slash, matched else { return false }
                    pattern = rest
                } else {
                    guard character == head else { return false }  // an unclosed "[" is a literal
                    pattern = pattern.dropFirst()
                }
            case UInt8(ascii: "\\"):
                let escaped = pattern.dropFirst().first ?? head
                guard character == escaped else { return false }
                pattern = pattern.dropFirst(2)
            default:
                guard character == head else { return false }
                pattern = pattern.dropFirst()
            }
            text = text.dropFirst()
        }
        return text.isEmpty
    }

    /// A `[...]` class after its `[`: whether `character` is in it and the pattern after `]`; nil
    /// when the class is not closed.
    private static func matchClass(_ pattern: ArraySlice<UInt8>, _ character: UInt8) -> (Bool, ArraySlice<UInt8>)? {
        var rest = pattern
        var negated = false
        if let first = rest.first, first == UInt8(ascii: "!") || first == UInt8(ascii: "^") {
            negated = true
            rest = rest.dropFirst()
        }
        var matched = false
        var first = true
        while let item = rest.first {
            if item == UInt8(ascii: "]") && !first { return (matched != negated, rest.dropFirst()) }
            first = false
            var low = item
            rest = rest.dropFirst()
            if low == UInt8(ascii: "\\"), let escaped = rest.first {
                low = escaped
                rest = rest.dropFirst()
            }
            if rest.first == UInt8(ascii: "-"), let high = rest.dropFirst().first, high != UInt8(ascii: "]") {
                if low <= character && character <= high { matched = true }
                rest = rest.dropFirst(2)
            } else if low == character {
                matched = true
            }
        }
        return nil
    }
}
