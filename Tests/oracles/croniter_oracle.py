"""Reference fire times from croniter (the cron library Airflow uses) for the differential test.

Reads a JSON list of cases {"expression", "zone", "start" (epoch seconds), "count"} from argv[1]
and writes a JSON list (one entry per case) to argv[2]: croniter's next `count` fire times as
epoch seconds, or null when croniter finds no fire time within 50 years (an expression that can
never fire). The croniter version is pinned (scripts/setup installs it): another version may read
expressions differently, so any other one is refused rather than compared against.
"""
import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import croniter as croniter_module
from croniter import CroniterBadDateError, croniter

PINNED_VERSION = "7.0.0"


def version() -> str:
    try:
        from importlib.metadata import version as package_version

        return package_version("croniter")
    except Exception:  # pragma: no cover - metadata missing
        return getattr(croniter_module, "__version__", "unknown")


def main() -> None:
    found = version()
    if found != PINNED_VERSION:
        sys.exit(f"croniter {found} is installed; the oracle is pinned to {PINNED_VERSION} "
                 f"(pip install croniter=={PINNED_VERSION}, as scripts/setup does)")
    with open(sys.argv[1], encoding="utf-8") as handle:
        cases = json.load(handle)
    results = []
    for case in cases:
        start = datetime.fromtimestamp(case["start"], ZoneInfo(case["zone"]))
        # "oracle": the expression as croniter must be asked (one-value ranges written as values).
        iterator = croniter(case.get("oracle", case["expression"]), start, max_years_between_matches=50)
        try:
            results.append([int(iterator.get_next(float)) for _ in range(case["count"])])
        except CroniterBadDateError:
            results.append(None)
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
