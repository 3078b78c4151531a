import Foundation

/// Runs blocking or CPU-bound test work on a thread of its own.
///
/// Swift's cooperative pool has one thread per core (two on CI). A test that computes for seconds,
/// waits for a subprocess or polls with `usleep` on it holds a thread the whole time; two such tests
/// starve every other test in the process: routers stop relaying, drivers' waits time out
/// ("the shim did not report a start within 10s"), answers arrive after their readers gave up.
/// A suite of 197 tests was seen starved for 35 s at its start that way. Work that blocks goes here.
/// Assertions stay in the test (on its task): the work returns what the test then checks.
public enum Blocking {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }
}
