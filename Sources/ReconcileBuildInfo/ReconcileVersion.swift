/// The version of this build and the git commit it was built from (written by the BuildInfo
/// plugin): `reconcile --version`, the `reconcile_build_info` gauge and the web UI's footer.
public enum ReconcileVersion {
    public static let version = "0.2.0"
    /// 40 hex digits, with `-dirty` when the work tree had changes; `unknown` outside git.
    public static let commit = BuildCommit.commit
    /// `0.2.0 (commit 1a2b3c4d5e6f)`.
    public static var display: String {
        "\(version) (commit \(commit == "unknown" ? commit : String(commit.prefix(12)) + (commit.hasSuffix("-dirty") ? "-dirty" : "")))"
    }
}
