"""Per-module mutation score from `mutmut results --all true` on stdin (used by `make mutation`).

Score = killed / (killed + survived + no tests + timeout + suspicious): a mutant no test notices is a
missing test. Mutants not yet checked (an interrupted run) are counted apart and left out of the score.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ]\S+__mutmut_\d+: (?P<status>.+?)\s*$")
NOT_KILLED = ("survived", "no tests", "timeout", "suspicious", "segfault")


def main() -> int:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in sys.stdin:
        match = LINE.match(line)
        if match:
            counts[match["module"]][match["status"]] += 1
    if not counts:
        print("no mutmut results on stdin", file=sys.stderr)
        return 1
    print(f"{'module':60} {'killed':>7} {'missed':>7} {'unchecked':>9} {'score':>6}")
    total_killed = total_missed = 0
    for module in sorted(counts):
        c = counts[module]
        killed = c["killed"]
        missed = sum(c[s] for s in NOT_KILLED)
        total_killed, total_missed = total_killed + killed, total_missed + missed
        score = f"{100 * killed / (killed + missed):.0f}%" if killed + missed else "-"
        print(f"{module:60} {killed:>7} {missed:>7} {c['not checked']:>9} {score:>6}")
    overall = 100 * total_killed / max(1, total_killed + total_missed)
    print(f"{'all':60} {total_killed:>7} {total_missed:>7} {'':>9} {overall:>5.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
