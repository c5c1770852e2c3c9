"""Skips must tell the truth: a test skipped on one leg must run on another.

``python -m pyctr.testing.skipcheck .ci/results/host-py311.xml .ci/results/kernel-debian61.xml ...``
reads the pytest JUnit XML of each leg (the leg is the file's name without
``.xml``: a suite and a Python, such as ``host-py313``, or a kernel, such as
``kernel-debian61``), prints per leg how many tests passed, failed and were
skipped, with every skip reason, and exits 1 when some test was skipped on
every leg that collected it: a test that only one kernel or only one Python
can run is fine, one that nothing runs is not. A missing or unreadable file
exits 2: a leg that left no results cannot vouch for anything.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PASSED, FAILED, SKIPPED, XFAILED = "passed", "failed", "skipped", "xfailed"
_RANK = {SKIPPED: 0, XFAILED: 1, PASSED: 2, FAILED: 3}  # a test with two records keeps the worst


@dataclass
class Leg:
    name: str
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> outcome
    reasons: dict[str, str] = field(default_factory=dict)  # test id -> skip reason

    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())


def _test_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # pytest writes "tests.unit.test_x.TestClass"; turn the module part back into a path.
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test"):
            module = "/".join(parts[:i]) + ".py"
            rest = parts[i:]
            return "::".join([module, *rest, name])
    return f"{classname}::{name}" if classname else name


def _outcome(case: ET.Element) -> tuple[str, str]:
    for child in case:
        if child.tag in ("failure", "error"):
            return FAILED, ""
    for child in case:
        if child.tag == "skipped":
            reason = child.get("message") or (child.text or "").strip()
            if child.get("type") == "pytest.xfail":
                return XFAILED, reason
            return SKIPPED, reason
    return PASSED, ""


def read_leg(path: Path) -> Leg:
    name = path.name[:-4] if path.name.endswith(".xml") else path.name
    leg = Leg(name)
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = _test_id(case)
        outcome, reason = _outcome(case)
        previous = leg.outcomes.get(test_id)
        if previous is None or _RANK[outcome] > _RANK[previous]:
            leg.outcomes[test_id] = outcome
            if outcome == SKIPPED:
                leg.reasons[test_id] = reason
            else:
                leg.reasons.pop(test_id, None)
    return leg


def skipped_everywhere(legs: list[Leg]) -> dict[str, list[str]]:
    """Test ids skipped on every leg that collected them -> their reasons, one per leg."""
    found: dict[str, list[str]] = {}
    for test_id in sorted({t for leg in legs for t in leg.outcomes}):
        seen = [leg for leg in legs if test_id in leg.outcomes]
        if all(leg.outcomes[test_id] == SKIPPED for leg in seen):
            found[test_id] = [f"{leg.name}: {leg.reasons.get(test_id, '')}" for leg in seen]
    return found


def report(legs: list[Leg], out=sys.stdout) -> int:
    for leg in legs:
        c = leg.counts()
        print(f"== {leg.name}: {c[PASSED]} passed, {c[FAILED]} failed, {c[SKIPPED]} skipped"
              + (f", {c[XFAILED]} xfailed" if c[XFAILED] else ""), file=out)
        for test_id in sorted(t for t, o in leg.outcomes.items() if o == FAILED):
            print(f"   FAILED  {test_id}", file=out)
        for test_id in sorted(t for t, o in leg.outcomes.items() if o == SKIPPED):
            print(f"   skipped {test_id}: {leg.reasons.get(test_id) or 'no reason given'}", file=out)
    nowhere = skipped_everywhere(legs)
    if nowhere:
        print(f"== {len(nowhere)} test(s) skipped on every leg that collected them "
              f"(each must run somewhere):", file=out)
        for test_id, reasons in nowhere.items():
            print(f"   {test_id}", file=out)
            for reason in reasons:
                print(f"       {reason}", file=out)
        return 1
    print(f"== every skipped test ran on another leg ({len(legs)} legs)", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyctr.testing.skipcheck", description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="JUnit XML of one leg each")
    args = parser.parse_args(argv)
    legs = []
    for path in args.results:
        try:
            legs.append(read_leg(path))
        except (OSError, ET.ParseError) as e:
            print(f"skipcheck: leg {path} left no readable results: {e}", file=sys.stderr)
            return 2
    return report(legs)


if __name__ == "__main__":
    sys.exit(main())
