/// A value in a manifest or on the command line that could not be parsed.
///
/// `message` says what is wrong and what a valid value looks like; `offset`, when set, is the
/// position (in characters) inside the text where the problem starts.
public struct ValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var offset: Int?

    public init(_ message: String, offset: Int? = nil) {
        self.message = message
        self.offset = offset
    }

    public var description: String { message }
}
