#!/usr/bin/env python3
"""What the Python package adds to a trace: `Store.trace()` timed from Python against the
engine's own time for the same call (`truyvet.elapsed_us` in the result's schema metadata).

The difference is everything a Python caller pays beyond `Snapshot::trace`: argument
conversion, building the Arrow batch, the C stream hand-off and `pyarrow.table()`.

    python3 benches/python_overhead.py --store STORE --f0s FILE [--runs 7] [--rule overlap]

F0s come from FILE (ids separated by whitespace) or, with `--pick N`, are the N busiest persons of one day
(picked by SQL). Prints medians and p90 over all calls, and the same per list size.
"""

import argparse
import statistics
import time

import truyvet


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--f0s", help="file of F0 ids (whitespace-separated)")
    ap.add_argument("--pick", type=int, default=20, help="without --f0s: the N busiest persons")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rule", default=None)
    a = ap.parse_args()

    store = truyvet.Store.open(a.store)
    if a.f0s:
        f0s = open(a.f0s).read().split()
    else:
        f0s = store.sql(
            "SELECT person_id FROM checkins WHERE check_in < (SELECT min(check_in) FROM checkins) + INTERVAL '1 day' "
            f"GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT {a.pick}"
        ).column("person_id").to_pylist()

    rows = []  # (contacts, wall_us, trace_us, arrow_us): the engine's trace, then its Arrow batch
    for f0 in f0s:
        store.trace(f0, rule=a.rule)  # the F0's pages in memory, as for the engine's own figures
        for _ in range(a.runs):
            started = time.perf_counter_ns()
            table = store.trace(f0, rule=a.rule)
            wall = (time.perf_counter_ns() - started) / 1000
            meta = table.schema.metadata
            rows.append((table.num_rows, wall, int(meta[b"truyvet.elapsed_us"]), int(meta[b"truyvet.arrow_us"])))

    def report(label, subset):
        if not subset:
            return
        over = [w - t for _, w, t, _ in subset]  # beyond the Rust trace call
        python = [w - t - b for _, w, t, b in subset]  # beyond the trace and its Arrow batch
        ms = lambda v: f"{v / 1000:6.3f}"  # noqa: E731
        print(
            f"{label:<20} calls {len(subset):>4}  contacts p50 {statistics.median(r[0] for r in subset):>6.0f}  "
            f"trace p50 {ms(statistics.median(r[2] for r in subset))} ms  "
            f"from Python p50 {ms(statistics.median(r[1] for r in subset))} ms  "
            f"overhead p50 {ms(statistics.median(over))} p90 {ms(quantile(over, 0.9))} ms  "
            f"(Arrow batch p50 {ms(statistics.median(r[3] for r in subset))}, "
            f"Python side p50 {ms(statistics.median(python))} ms)"
        )

    print(f"store {a.store}: {len(f0s)} F0s x {a.runs} runs, rule {a.rule or 'overlap'}")
    report("all", rows)
    for lo, hi in [(0, 100), (100, 1000), (1000, 10_000), (10_000, 10**9)]:
        report(f"{lo}-{hi if hi < 10**9 else 'inf'} contacts", [r for r in rows if lo <= r[0] < hi])


if __name__ == "__main__":
    main()
