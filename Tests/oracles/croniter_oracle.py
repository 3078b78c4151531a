"""Reference fire times from croniter (the cron library Airflow uses) for the differential test.

Reads a JSON list of cases {"expression", "zone", "start" (epoch seconds), "count"} from argv[1]
and writes a JSON list of lists of epoch seconds (croniter's next `count` fire times) to argv[2].
"""
import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        cases = json.load(handle)
    results = []
    for case in cases:
        start = datetime.fromtimestamp(case["start"], ZoneInfo(case["zone"]))
        iterator = croniter(case["expression"], start)
        results.append([int(iterator.get_next(float)) for _ in range(case["count"])])
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
