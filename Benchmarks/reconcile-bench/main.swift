import Foundation

// reconcile-bench: performance numbers for the closing notes, each against a baseline measured in
// the same run (this machine is shared and noisy).
//
//   reconcile-bench [load] [--apps N] [--dags N] [--tasks N] [--checks N] [--runs N] [--keep DIR]
//       load and validate a generated repository vs. Python's yaml.CSafeLoader parsing the same files
//   reconcile-bench git [--files N] [--runs N]
//       poll a local git remote of N manifest files: with no new commit, and after a one-file commit
//   reconcile-bench plan [--apps N] [--runs N]
//       plan N apps (default 2,000) over 10 nodes: full and no-op plans, nodes used vs. the lower bound
//   reconcile-bench docker [--files N] [--runs N]
//       start N (default 50) containers through DockerDriver concurrently vs. a `docker run -d` loop
//   reconcile-bench dags [--tasks N] [--runs N] [--docker]
//       task handoff on a process node: a chain of N (default 200) trivial tasks (median, p99) and a
//       1,000-task fan-out, vs. one process start through the driver and the fan-out's floors (the
//       same processes spawned directly, and through the driver); --docker adds a 50-task chain on
//       the local Docker engine
//   reconcile-bench grep [--files MiB] [--runs N]
//       search 1 GiB (default) of collected log lines vs. `grep -E -c` over the same file
//   reconcile-bench soak [--apps N] [--dags N] [--runs MINUTES] [--docker]
//       the release controller on 200 process Apps and 50 DAGs for 10 minutes: CPU and RSS sampled
//       (--docker: on the local Docker engine)
//   reconcile-bench ui [--apps N] [--dags N] [--runs N]
//       web UI page render times on 50 DAGs x 100 runs and 200 Apps vs. the same data as API JSON
//   reconcile-bench bounds
//       controller RSS and /healthz under 2,000 slowloris connections, 60 unsigned 10 MB webhook
//       posts and 1,000 connections waiting on a published port, each against the idle controller
//   reconcile-bench router [--runs N]
//       wrk through the router (http and tcp mode) vs. nginx as a keep-alive reverse proxy vs. direct,
//       one keep-alive backend process (reconcile-bench backend), N rounds (default 7)
//   reconcile-bench scale [--svg DIR] [--only pass,repo,history,logs] [--quick]
//       curves: pass time vs Apps and nodes, validate and poll vs repository size, API and UI pages vs
//       stored history (and the controller's memory with it), log ingest and search vs size; tables and
//       SVG charts
//   reconcile-bench fuzz-http [--seconds N] [--runs SEED]
//       a seeded property run (default 600 s) over query, form, redirect and webhook decoding

var arguments = CommandLine.arguments
let mode = arguments.count > 1 && !arguments[1].hasPrefix("--") ? arguments.remove(at: 1) : "load"
// A benchmark that cannot run (a tool missing, a fixture that did not start) says why and exits 1.
do {
    switch mode {
    case "load": try runLoadBenchmark(Options(arguments))
    case "git": try await runGitBenchmark(Options(arguments))
    case "docker": try await runDockerBenchmark(Options(arguments))
    case "plan": runPlanBenchmark(Options(arguments))
    case "dags": try await runDAGBenchmark(Options(arguments))
    case "grep": try runGrepBenchmark(Options(arguments))
    case "soak": try await runSoakBenchmark(Options(arguments))
    case "ui": try runWebBenchmark(Options(arguments))
    case "bounds": try await runBoundsBenchmark(Options(arguments))
    case "fuzz-http": try runHTTPFuzz(Options(arguments))
    case "router": try await runRouterBenchmark(Options(arguments))
    case "backend": try await runBackend(Options(arguments))
    case "scale": try await runScaleBenchmark(Options(arguments))
    case "scale-pass-point": try await runPassPoint(Options(arguments))
    default:
        FileHandle.standardError.write(
            Data(
                "unknown benchmark \(mode); use load, git, plan, docker, dags, grep, soak, ui, bounds, router, fuzz-http or scale\n"
                    .utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("reconcile-bench \(mode): \(error)\n".utf8))
    exit(1)
}
