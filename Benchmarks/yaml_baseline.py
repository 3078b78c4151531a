"""Bare libyaml parse of every manifest under a directory: the baseline for reconcile-bench.

Prints the median wall time in seconds of RUNS full passes (read + yaml.load_all with CSafeLoader).
"""
import os
import statistics
import sys
import time

import yaml


def main() -> None:
    root, runs = sys.argv[1], int(sys.argv[2])
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.endswith((".yaml", ".yml"))
    )
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        count = 0
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                count += sum(1 for _ in yaml.load_all(handle.read(), Loader=yaml.CSafeLoader))
        times.append(time.perf_counter() - start)
    print(statistics.median(times))


if __name__ == "__main__":
    main()
