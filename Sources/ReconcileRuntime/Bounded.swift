/// The one bounded-concurrency helper of the runtime: runs `transform` over the items side by side,
/// at most `limit` at once, and returns the results in the items' order. Each child stores its own
/// result under a lock and returns nothing through the group (see ClusterSnapshot.take: values
/// returned through a task group came back corrupted in release builds).
enum Bounded {
    static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], limit: Int, _ transform: @escaping @Sendable (Item) async -> Result
    ) async -> [Result] {
        let results = Collected<[Int: Result]>([:])
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let index = next
                let item = items[index]
                group.addTask {
                    let result = await transform(item)
                    results.value.withLock { $0[index] = result }
                }
                next += 1
            }
            while next < min(limit, items.count) { add() }
            while await group.next() != nil {
                if next < items.count { add() }
            }
        }
        return results.value.withLock { stored in items.indices.map { stored[$0]! } }
    }

    /// The same for a throwing transform: the first error is rethrown once every started child ended.
    static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], limit: Int, _ transform: @escaping @Sendable (Item) async throws -> Result
    ) async throws -> [Result] {
        let outcomes = await map(items, limit: limit) { item -> Swift.Result<Result, any Error> in
            do { return .success(try await transform(item)) } catch { return .failure(error) }
        }
        return try outcomes.map { try $0.get() }
    }
}
