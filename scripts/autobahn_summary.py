#!/usr/bin/env python3
"""Summarise an Autobahn (kosoku) report directory and judge it.

Usage: autobahn_summary.py ROLE OUTDIR [--include GLOB ...] [--exclude GLOB ...]
                           [--require-deflate]

Reads OUTDIR/index.json, prints one row per case group with the number of
cases in each outcome, lists every case that is worse than expected, and
exits 1 if there is any such case or if a selected case has no result.

A case's outcome is its `behavior` (OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED, FAILED), except that it counts as FAILED when the closing
handshake verdict (`behaviorClose`) is anything but OK or INFORMATIONAL
(WRONG CODE, UNCLEAN, FAILED BY CLIENT, FAILED).

What is expected:
  * groups 1 to 10: OK. NON-STRICT is a failure (we were lenient where the
    RFC says fail). INFORMATIONAL is accepted only for the cases whose file
    always overrides the verdict to INFORMATIONAL (INFORMATIONAL_ONLY).
  * groups 12 and 13 (permessage-deflate): OK, or UNIMPLEMENTED while
    compression is not implemented. OK only with --require-deflate, or as
    soon as any case of groups 12 and 13 is OK (compression has landed).

Run it with the kosoku virtualenv's python: the list of cases selected is
taken from kosoku's own case index, so a case that silently did not run is
reported as MISSING rather than ignored.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

OUTCOMES = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

# Case files that set behavior = INFORMATIONAL unconditionally in
# onConnectionLost (kosoku 0.1.0 / Autobahn cases): 7.1.6 (close racing a
# large message), 7.13.1 and 7.13.2 (close codes 5000 and 65535, undefined).
INFORMATIONAL_ONLY = {"7.1.6", "7.13.1", "7.13.2"}

DEFLATE_GROUPS = {"12", "13"}

GOOD_CLOSE = {"OK", "INFORMATIONAL"}


def sort_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def outcome(entry: dict) -> str:
    behavior = entry.get("behavior", "FAILED")
    if entry.get("behaviorClose") not in GOOD_CLOSE:
        return "FAILED"
    return behavior if behavior in OUTCOMES else "FAILED"


def acceptable(case_id: str, result: str, require_deflate: bool) -> bool:
    group = case_id.split(".")[0]
    if result == "OK":
        return True
    if result == "INFORMATIONAL":
        return case_id in INFORMATIONAL_ONLY
    if result == "UNIMPLEMENTED":
        return group in DEFLATE_GROUPS and not require_deflate
    return False


def selected_cases(include: list[str], exclude: list[str]) -> list[str] | None:
    """The case ids kosoku runs for these globs, or None if kosoku's index
    cannot be imported (then only the cases present are judged)."""
    try:
        from kosoku.cases import CASES  # type: ignore[import-not-found]
    except Exception as e:  # noqa: BLE001 - any import problem means "unknown"
        print(f"warning: cannot read kosoku's case index ({e}); "
              "missing cases will not be detected", file=sys.stderr)
        return None
    ids = list(CASES)
    if include:
        ids = [c for c in ids if any(fnmatch.fnmatchcase(c, g) for g in include)]
    if exclude:
        ids = [c for c in ids if not any(fnmatch.fnmatchcase(c, g) for g in exclude)]
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", help="label for the table (server or client)")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--include", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--require-deflate", action="store_true")
    args = parser.parse_args()

    index_path = args.outdir / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as e:
        print(f"{args.role}: no usable report at {index_path}: {e}", file=sys.stderr)
        return 1

    # One agent per run; merge defensively if there are several.
    results: dict[str, dict] = {}
    for cases in index.values():
        results.update(cases)

    expected_ids = selected_cases(args.include, args.exclude)
    missing = [] if expected_ids is None else [c for c in expected_ids if c not in results]

    # Once any compression case passes, permessage-deflate has landed and
    # an UNIMPLEMENTED compression case is a regression, not a gap.
    deflate_landed = any(
        c.split(".")[0] in DEFLATE_GROUPS and outcome(e) == "OK" for c, e in results.items()
    )
    require_deflate = args.require_deflate or deflate_landed

    counts: dict[str, Counter] = defaultdict(Counter)
    bad: list[tuple[str, str, dict]] = []
    for case_id in sorted(results, key=sort_key):
        entry = results[case_id]
        result = outcome(entry)
        counts[case_id.split(".")[0]][result] += 1
        if not acceptable(case_id, result, require_deflate):
            bad.append((case_id, result, entry))
    for case_id in missing:
        counts[case_id.split(".")[0]]["MISSING"] += 1

    columns = OUTCOMES + (["MISSING"] if missing else [])
    header = ["group", "cases"] + columns + ["verdict"]
    rows = []
    bad_groups = {c.split(".")[0] for c, _, _ in bad} | {c.split(".")[0] for c in missing}
    for group in sorted(counts, key=int):
        c = counts[group]
        rows.append([group, str(sum(c.values()))] + [str(c[o]) for o in columns]
                    + ["FAIL" if group in bad_groups else "pass"])
    total = Counter()
    for c in counts.values():
        total.update(c)
    rows.append(["all", str(sum(total.values()))] + [str(total[o]) for o in columns]
                + ["FAIL" if bad or missing else "pass"])

    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print(f"\nAutobahn TestSuite, {args.role} role ({args.outdir})")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))

    for case_id, result, entry in bad:
        detail = ""
        report = args.outdir / entry.get("reportfile", "")
        try:
            case = json.loads(report.read_text())
            detail = f" - {case.get('result', '')} / {case.get('resultClose', '')}"
        except (OSError, ValueError):
            pass
        print(f"  {case_id}: {result} (behavior={entry.get('behavior')}, "
              f"behaviorClose={entry.get('behaviorClose')}, "
              f"remoteCloseCode={entry.get('remoteCloseCode')}){detail}")
    for case_id in missing:
        print(f"  {case_id}: MISSING (no result in the report)")

    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
