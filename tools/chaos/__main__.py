"""`python -m tools.chaos`: run, print the report, exit 1 on any violation."""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from .harness import ChaosRun, Options, Report


def _table(title: str, rows: list[tuple[str, ...]], out: object) -> None:
    print(f"\n{title}", file=out)
    if not rows:
        print("  (none)", file=out)
        return
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)


def print_report(report: Report, out: object = sys.stdout) -> None:
    o = report.options
    print(f"\nFault-injection run: seed {o.seed}, {report.operations} operations by {o.actors} concurrent "
          f"users ({o.travelers} travelers, 2 vendors with webhooks, 1 agent) on {o.listings} listings x {o.dates} dates, "
          f"{report.seconds:.0f} s", file=out)
    by_operation: dict[str, Counter] = {}
    for (operation, status), count in report.tally.items():
        by_operation.setdefault(operation, Counter())[str(status)] += count
    _table("Requests by operation (final status after retries of lost answers)",
           [("operation", "requests", "statuses", "lost-answer retries")]
           + [(op, str(sum(c.values())), ", ".join(f"{s}: {n}" for s, n in sorted(c.items())),
               str(report.lost_answers.get(op, 0))) for op, c in sorted(by_operation.items())], out)
    _table("Faults injected", [("kind", "count")] + [(k, str(v)) for k, v in sorted(report.faults.items())], out)
    _table("Bookings at the end", [("status", "count")] + [(k, str(v)) for k, v in sorted(report.bookings.items())], out)
    _table("Vendor webhooks (events at the end, the worker's attempts, what the receivers got)",
           [("figure", "count")] + [(k, str(v)) for k, v in report.webhooks.items()], out)
    _table("Promotions (codes with small limits; holds with a code, refusals by reason)",
           [("figure", "count")] + [(k, str(v)) for k, v in report.promotions.items()], out)
    _table("Waitlist (joins, leaves, entries at the end, the automatic holds)",
           [("figure", "count")] + [(k, str(v)) for k, v in report.waitlist.items()], out)
    violations = Counter(name for name, _ in report.violations)
    _table("Invariants", [("check", "checked", "violations")]
           + [(name, str(n), str(violations.get(name, 0))) for name, n in sorted(report.checked.items())]
           + [(name, "-", str(n)) for name, n in sorted(violations.items()) if name not in report.checked], out)
    _table("Dead-lettered messages (which, and why)", [(d,) for d in report.dead_letters], out)
    if report.violations:
        print(f"\n{len(report.violations)} VIOLATION(S):", file=out)
        for name, what in report.violations[:50]:
            print(f"  [{name}] {what}", file=out)
        print(f"\nLogs: {', '.join(report.logs)}", file=out)
        print(f"\nReplay: python -m tools.chaos --seed {o.seed} --operations {o.operations} "
              f"--travelers {o.travelers} --actors {o.actors}", file=out)
    else:
        print(f"\n0 violations (seed {o.seed}).", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fault-injection run against the local stack.")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--operations", type=int, default=10000)
    parser.add_argument("--travelers", type=int, default=16)
    parser.add_argument("--actors", type=int, default=6)
    parser.add_argument("--listings", type=int, default=8)
    parser.add_argument("--dates", type=int, default=4)
    parser.add_argument("--keep-logs", action="store_true", help="keep the service's log of a passing run too")
    args = parser.parse_args(argv)
    out = sys.stdout
    print(f"Fault-injection run, seed {args.seed}: starting the local stack ...", file=out, flush=True)
    report = ChaosRun(Options(seed=args.seed, operations=args.operations, travelers=args.travelers,
                              actors=args.actors, listings=args.listings, dates=args.dates,
                              keep_logs=args.keep_logs)).run()
    print_report(report, out)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
