import Foundation
import PackagePlugin

/// Writes the git commit the package is built from into `BuildCommit.swift` before each build
/// (`unknown` outside a git work tree; `-dirty` when files differ from it). The file is replaced
/// only when its text changes, so an unchanged commit recompiles nothing.
@main
struct BuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = context.pluginWorkDirectoryURL.appending(path: "generated")
        let output = folder.appending(path: "BuildCommit.swift")
        let root = context.package.directoryURL.path
        let script = """
            mkdir -p '\(folder.path)'
            commit=$(git -C '\(root)' rev-parse HEAD 2>/dev/null) || commit=unknown
            if [ "$commit" != unknown ] && ! git -C '\(root)' diff --quiet HEAD 2>/dev/null; then commit="$commit-dirty"; fi
            text="enum BuildCommit { static let commit = \\"$commit\\" }"
            [ "$(cat '\(output.path)' 2>/dev/null)" = "$text" ] || printf '%s\\n' "$text" > '\(output.path)'
            """
        return [
            .prebuildCommand(
                displayName: "BuildInfo: the git commit", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script], outputFilesDirectory: folder)
        ]
    }
}
