import CPCRE2
import Foundation

/// A compiled PCRE2 pattern (JIT-compiled where the platform allows) for log checks and log search,
/// matched byte-wise (log lines need not be valid UTF-8).
/// Each match is bounded by a match limit and a depth limit, so no pattern can hang the controller:
/// a line on which the limit is hit counts as not matching.
public final class LogPattern: @unchecked Sendable {
    let code: OpaquePointer
    let context: OpaquePointer?
    public let source: String
    /// The pattern means the same over a whole buffer of lines as over each line alone, so a
    /// search may run it over the buffer. Not so for anchors to the subject's start or end (`\A`,
    /// `\z`, `\Z`, `\G`), lookbehinds (they would see the previous line), inline options that turn
    /// multiline off (`(?-m)`, `(?^)`) and verbs (`(*...)`): those are matched line by line.
    public let matchesWholeBuffers: Bool

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameter multiline: `^` and `$` also match at line starts and ends (searching a whole file).
    public init(_ pattern: String, multiline: Bool = false) throws {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeBufferPointer { buffer in
            pcre2_compile_8(
                buffer.baseAddress, buffer.count, multiline ? UInt32(PCRE2_MULTILINE) : 0, &errorCode,
                &errorOffset, nil)
        }
        guard let compiled else {
            var message = [UInt8](repeating: 0, count: 256)
            let length = pcre2_get_error_message_8(errorCode, &message, message.count)
            throw Invalid(
                description: "regular expression \"\(pattern)\" does not compile: "
                    + "\(String(decoding: message.prefix(Int(max(0, length))), as: UTF8.self)) at offset \(errorOffset)"
            )
        }
        code = compiled
        source = pattern
        matchesWholeBuffers = Self.sameOverBuffers(pattern)
        _ = pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE))
        context = pcre2_match_context_create_8(nil)
        if let context {
            pcre2_set_match_limit_8(context, 1_000_000)
            pcre2_set_depth_limit_8(context, 10_000)
        }
    }

    static func sameOverBuffers(_ pattern: String) -> Bool {
        for anchor in ["\\A", "\\z", "\\Z", "\\G", "(?<=", "(?<!", "(*", "(?^"] where pattern.contains(anchor) {
            return false
        }
        // An inline option group that unsets something, e.g. (?-m) or (?i-m).
        var rest = Substring(pattern)
        while let open = rest.range(of: "(?") {
            let options = rest[open.upperBound...].prefix { $0.isLetter || $0 == "-" }
            if options.contains("-") { return false }
            rest = rest[open.upperBound...]
        }
        return true
    }

    deinit {
        pcre2_code_free_8(code)
        if let context { pcre2_match_context_free_8(context) }
    }

    /// Per-thread match state (match data is not shareable).
    public final class Matcher {
        let pattern: LogPattern
        let data: OpaquePointer

        init(_ pattern: LogPattern) {
            self.pattern = pattern
            data = pcre2_match_data_create_from_pattern_8(pattern.code, nil)
        }

        deinit { pcre2_match_data_free_8(data) }

        /// What one search came to.
        public enum Search: Equatable {
            case match(Range<Int>)
            case none
            /// The match or depth limit was hit: the engine gave up somewhere after the start.
            case limit
        }

        /// The first match in `bytes[from...]`: its start and end offsets.
        public func search(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Search {
            let subject = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            let result = pcre2_match_8(
                pattern.code, subject, bytes.count, start, 0, data, pattern.context)
            guard result >= 0 else { return result == PCRE2_ERROR_NOMATCH ? .none : .limit }
            let vector = pcre2_get_ovector_pointer_8(data)!
            return .match(Int(vector[0])..<Int(vector[1]))
        }

        /// The first match in `bytes[from...]`; nil when there is none or a limit was hit.
        public func firstMatch(in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Range<Int>? {
            if case .match(let range) = search(bytes, from: start) { return range }
            return nil
        }

        public func matches(_ text: String) -> Bool {
            var text = text
            return text.withUTF8 { firstMatch(in: UnsafeRawBufferPointer($0)) != nil }
        }
    }

    public func matcher() -> Matcher { Matcher(self) }

    public func matches(_ text: String) -> Bool { matcher().matches(text) }
}
