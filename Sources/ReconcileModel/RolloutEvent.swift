import Foundation

/// One step in an App's rollout history: a rollout started, completed, or was rolled back.
public struct RolloutEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case started, completed, rolledBack = "rolled back"
    }

    public var app: String
    public var at: Date
    public var kind: Kind
    /// The revision replaced (nil for a first deployment).
    public var fromHash: String?
    public var toHash: String
    public var commitID: String
    public var detail: String

    public init(
        app: String, at: Date, kind: Kind, fromHash: String?, toHash: String, commitID: String, detail: String
    ) {
        self.app = app
        self.at = at
        self.kind = kind
        self.fromHash = fromHash
        self.toHash = toHash
        self.commitID = commitID
        self.detail = detail
    }
}
