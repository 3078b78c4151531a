import CPCRE2

/// Compiles regular expressions with PCRE2 (the engine log search and checks use) to report
/// syntax errors at validation time, with the position inside the pattern.
enum PatternSyntax {
    /// A message for a pattern that does not compile, or nil when it compiles.
    static func problem(in pattern: String) -> String? {
        var errorCode: Int32 = 0
        var errorOffset: Int = 0
        let bytes = Array(pattern.utf8)
        let options = UInt32(PCRE2_UTF) | UInt32(PCRE2_UCP)
        let code = bytes.withUnsafeBufferPointer { buffer in
            pcre2_compile_8(buffer.baseAddress, buffer.count, options, &errorCode, &errorOffset, nil)
        }
        if let code {
            pcre2_code_free_8(code)
            return nil
        }
        var message = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(errorCode, &message, message.count)
        let text = length > 0 ? String(decoding: message.prefix(Int(length)), as: UTF8.self) : "error \(errorCode)"
        return "regular expression \"\(pattern)\" does not compile: \(text) at offset \(errorOffset)"
    }
}
