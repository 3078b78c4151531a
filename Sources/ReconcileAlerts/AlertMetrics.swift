/// What alerting counts, for the controller's metrics (the runtime's ControllerMetrics conforms).
public protocol AlertMetrics: Sendable {
    func checkResult(_ check: String, passed: Bool)
    /// `result`: sent, retry or failed.
    func notification(_ notifier: String, result: String)
}
