import ReconcileShimCore

/// FNV-1a lives with what the shim shares (the exit-notice socket's name is one); this name keeps
/// it where every module looks for it.
public typealias StableHash = ReconcileShimCore.StableHash
