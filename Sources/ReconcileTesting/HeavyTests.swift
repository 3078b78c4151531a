import Foundation

/// The end-to-end tests that start their own engines and controllers and measure behaviour under
/// load (zero failed requests during a rollout, random kills) run one at a time: side by side on a
/// 2-core machine they starve each other into timeouts that are not the code's. Lighter tests still
/// run in parallel around them.
public actor HeavyTests {
    public static let gate = HeavyTests()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public static func exclusive<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await gate.acquire()
        do {
            let result = try await body()
            await gate.release()
            return result
        } catch {
            await gate.release()
            throw error
        }
    }

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
