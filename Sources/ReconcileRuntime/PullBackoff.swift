import Foundation
import ReconcileModel
import Synchronization

/// Failed image pulls of App replicas, per node and image, in memory: a failed pull is tried again
/// after a backoff that doubles from 10 s up to 5 min (not on every pass), and an App whose pulls
/// failed `alertAfter` times in a row raises its `pull/APP` condition until a pull succeeds.
public final class PullBackoff: Sendable {
    public static let firstDelay: TimeInterval = 10
    public static let maxDelay: TimeInterval = 300
    /// Failed pulls in a row before the App's pull condition fails.
    public static let alertAfter = 3

    struct Failure: Sendable {
        var app: String
        var count: Int
        var message: String
        var retryAt: Date
    }

    private let failures = Mutex<[String: Failure]>([:])

    public init() {}

    static func key(_ node: String, _ image: String) -> String { node + "\u{0}" + image }

    /// When a failed pull of `image` on `node` may be tried again, with the failure so far; nil when
    /// it may be tried now.
    public func backingOff(node: String, image: String, now: Date) -> (until: Date, count: Int, message: String)? {
        failures.withLock { all in
            guard let failure = all[Self.key(node, image)], failure.retryAt > now else { return nil }
            return (failure.retryAt, failure.count, failure.message)
        }
    }

    public func failed(node: String, image: String, app: String, message: String, now: Date) {
        failures.withLock { all in
            let count = (all[Self.key(node, image)]?.count ?? 0) + 1
            let delay = min(Self.maxDelay, Self.firstDelay * pow(2, Double(count - 1)))
            all[Self.key(node, image)] = Failure(
                app: app, count: count, message: message, retryAt: now.addingTimeInterval(delay))
        }
    }

    public func succeeded(node: String, image: String) {
        failures.withLock { _ = $0.removeValue(forKey: Self.key(node, image)) }
    }

    /// Apps whose pulls failed at least `alertAfter` times in a row (on some node), with the last
    /// failure's words: the facts of their `pull/APP` conditions.
    public func failing() -> [String: String] {
        failures.withLock { all in
            var apps: [String: String] = [:]
            for failure in all.values.sorted(by: { $0.message < $1.message }) where failure.count >= Self.alertAfter {
                apps[failure.app] = "\(failure.message) (\(failure.count) pulls failed in a row)"
            }
            return apps
        }
    }
}
