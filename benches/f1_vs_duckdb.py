#!/usr/bin/env python3
"""F1 tracing: whole `truyvet trace` processes against DuckDB computing the same semantics in SQL.

Usage: python3 benches/f1_vs_duckdb.py STORE_DIR [TRUYVET_BIN] [--f0s 5] [--runs 3] [--threads 2]
       [--seed 7] [--json OUT]

DuckDB runs `queries/f1_in_plain_sql.sql` (the engine's exact semantics as joins and window
functions; the same file is tested against the engine in tests/tests/e2e/sql.rs) over exactly the
Parquet parts of the store's live manifest. truyvet is timed as a whole process: open the store,
trace, write the CSV. Every F0's two answers are compared row by row (rank, person, seconds,
episodes, venues, first and last contact); a difference stops the script. Default trace
parameters and the whole data set as the window. Medians of `--runs` after one warm-up each.
Needs `pip install duckdb`.
"""
import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
from sql_vs_duckdb import duckdb_over_store  # noqa: E402

QUERY = os.path.join(os.path.dirname(__file__), "..", "queries", "f1_in_plain_sql.sql")
WINDOW = ("1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


def bind(sql, params):
    """The `:name` substitution of `truyvet sql --param`, enough for this one file."""
    for name in sorted(params, key=len, reverse=True):
        sql = sql.replace(f":{name}", "'" + str(params[name]).replace("'", "''") + "'")
    return sql


def code_only(sql):
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def epoch(value):
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp())
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def truyvet_trace(bin_, store, f0):
    t = time.perf_counter()
    out = subprocess.run(
        [bin_, "trace", "--store", store, "--f0", f0, "--from", WINDOW[0], "--to", WINDOW[1], "--format", "csv"],
        capture_output=True, text=True, check=True,
    )
    ms = (time.perf_counter() - t) * 1e3
    rows = [
        (int(r["rank"]), r["person_id"], int(r["exposure_seconds"]), int(r["episodes"]), int(r["venues"]),
         epoch(r["first_contact"]), epoch(r["last_contact"]))
        for r in csv.DictReader(io.StringIO(out.stdout))
    ]
    return ms, rows


def duckdb_trace(con, sql):
    t = time.perf_counter()
    got = con.sql(sql).fetchall()
    ms = (time.perf_counter() - t) * 1e3
    return ms, [(int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), epoch(r[5]), epoch(r[6])) for r in got]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("bin", nargs="?", default="target/release/truyvet")
    ap.add_argument("--f0s", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    import duckdb

    con, m, parts = duckdb_over_store(a.store, a.threads)
    rows = sum(p["rows"] for p in m["parts"])
    f0s = [r[0] for r in con.sql(
        f"SELECT person_id FROM (SELECT DISTINCT person_id FROM checkins) ORDER BY hash(person_id || '{a.seed}') LIMIT {a.f0s}"
    ).fetchall()]
    template = code_only(open(QUERY).read())
    print(f"store {a.store}: {rows} rows, {len(parts)} parts; duckdb {duckdb.__version__}, {a.threads} threads; "
          f"truyvet {a.bin}; medians of {a.runs} runs after a warm-up")
    print(f"{'f0':>14} {'F1 size':>8} {'truyvet ms':>11} {'duckdb ms':>10} {'ratio':>7}")
    results = []
    for f0 in f0s:
        sql = bind(template, {"f0": f0, "from": WINDOW[0], "to": WINDOW[1], "linger_s": 0, "dwell_s": 3600,
                              "max_visit_s": 43200, "min_overlap_s": 0})
        _, want = truyvet_trace(a.bin, a.store, f0)
        _, got = duckdb_trace(con, sql)
        if want != got:
            diff = next((i for i, (x, y) in enumerate(zip(want, got)) if x != y), min(len(want), len(got)))
            sys.exit(f"{f0}: results differ at row {diff}: truyvet {want[diff:diff + 1]} duckdb {got[diff:diff + 1]} "
                     f"({len(want)} vs {len(got)} rows)")
        tv = [truyvet_trace(a.bin, a.store, f0)[0] for _ in range(a.runs)]
        dd = [duckdb_trace(con, sql)[0] for _ in range(a.runs)]
        tvm, ddm = statistics.median(tv), statistics.median(dd)
        results.append({"f0": f0, "contacts": len(want), "truyvet_ms": tv, "duckdb_ms": dd,
                        "truyvet_median_ms": tvm, "duckdb_median_ms": ddm})
        print(f"{f0:>14} {len(want):>8} {tvm:11.1f} {ddm:10.1f} {ddm / tvm:6.0f}x")
    tvm = statistics.median(r["truyvet_median_ms"] for r in results)
    ddm = statistics.median(r["duckdb_median_ms"] for r in results)
    print(f"{'median':>14} {'':>8} {tvm:11.1f} {ddm:10.1f} {ddm / tvm:6.0f}x   (identical results for all {len(f0s)} F0s)")
    if a.json:
        json.dump({"store": a.store, "rows": rows, "threads": a.threads, "duckdb": duckdb.__version__,
                   "truyvet_median_ms": tvm, "duckdb_median_ms": ddm, "ratio": ddm / tvm, "results": results},
                  open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
