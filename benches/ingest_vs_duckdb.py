#!/usr/bin/env python3
"""Loading check-ins: a whole `truyvet ingest` process against DuckDB writing the same rows as
Parquet sorted by venue and check-in, from CSV and from Parquet.

Usage: python3 benches/ingest_vs_duckdb.py [TRUYVET_BIN] [--rows 10000000] [--persons 500000]
       [--venues 20000] [--days 14] [--missing 0.4] [--runs 3] [--threads 2] [--dir DIR]
       [--json OUT]

The input is made here by DuckDB, not by `truyvet gen`, so that nothing in it is shaped by the
loader it measures: `--rows` check-ins of `--persons` phone-number ids at `--venues` QR venue ids
over `--days` days from 2021-08-01, check-in times spread over each day, `--missing` of them
without check-out, stays of 5 min to 4 h. The CSV has quoted RFC 3339 timestamps with a +07:00
offset (as a province's export has); the Parquet file has the same rows as TIMESTAMPTZ. Both are
cached in `--dir` by their parameters.

truyvet: `truyvet ingest --store NEW --tz +07:00 FILE` into a fresh store, timed as a whole
process (validation, dictionaries, sort, Parquet parts, trace indexes, fsync, commit), peak RSS
from the kernel. Its report's stored and rejected counts must add up to `--rows`.

DuckDB (`--threads`, default 2 as this machine has): `COPY (SELECT * FROM read_csv(FILE) ORDER BY
venue_id, check_in) TO OUT (FORMAT parquet)`, and the same from the Parquet file; a fresh
connection per run. It validates nothing, builds no index and does not fsync: it is the floor an
analyst's one-liner sets, not the same work.

Medians of `--runs` after one warm-up each (the page cache holds the input for both). Needs
`pip install duckdb`.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def make_inputs(args, con):
    name = f"r{args.rows}-p{args.persons}-v{args.venues}-d{args.days}-m{args.missing}"
    csv_path = os.path.join(args.dir, name + ".csv")
    pq_path = os.path.join(args.dir, name + ".parquet")
    if os.path.exists(csv_path) and os.path.exists(pq_path):
        return csv_path, pq_path
    os.makedirs(args.dir, exist_ok=True)
    # hash() is DuckDB's deterministic 64-bit hash: the same rows every time.
    rows = f"""
        SELECT
            printf('09%08d', hash(i, 1) % {args.persons}) AS person_id,
            printf('QR-VN-%06d', hash(i, 2) % {args.venues}) AS venue_id,
            TIMESTAMPTZ '2021-08-01 00:00:00+07'
                + to_seconds((hash(i, 3) % {args.days}) * 86400 + hash(i, 4) % 86400) AS check_in,
            CASE WHEN (hash(i, 5) % 1000) < {int(args.missing * 1000)} THEN NULL
                 ELSE check_in + to_seconds(300 + hash(i, 6) % 14100) END AS check_out
        FROM range({args.rows}) t(i)
    """
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    con.execute(f"CREATE OR REPLACE TEMP TABLE rows AS {rows}")
    con.execute(f"COPY rows TO '{pq_path}' (FORMAT parquet)")
    text = """
        SELECT person_id, venue_id,
               strftime(check_in, '%Y-%m-%dT%H:%M:%S+07:00') AS check_in,
               strftime(check_out, '%Y-%m-%dT%H:%M:%S+07:00') AS check_out
        FROM rows
    """
    con.execute(f"COPY ({text}) TO '{csv_path}' (HEADER, FORCE_QUOTE (check_in, check_out))")
    con.execute("DROP TABLE rows")
    return csv_path, pq_path


def child_peak_kib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def truyvet_ingest(bin_, path, rows, workdir):
    store = tempfile.mkdtemp(dir=workdir, prefix="store-")
    try:
        t = time.perf_counter()
        out = subprocess.run(
            [bin_, "ingest", "--store", store, "--tz", "+07:00", path],
            capture_output=True, text=True, check=True,
        )
        seconds = time.perf_counter() - t
    finally:
        shutil.rmtree(store, ignore_errors=True)
    report = out.stdout + out.stderr
    counts = re.search(r"stored (\d+), rejected (\d+)", report)
    if not counts or int(counts.group(1)) + int(counts.group(2)) != rows:
        sys.exit(f"truyvet ingest of {path}: the counts do not add up to {rows} rows:\n{report}")
    return seconds


def duckdb_sort(duckdb, threads, source, workdir):
    out = os.path.join(workdir, "duckdb-out.parquet")
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    t = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM {source} ORDER BY venue_id, check_in) TO '{out}' (FORMAT parquet)")
    seconds = time.perf_counter() - t
    con.close()
    os.remove(out)
    return seconds


def timed(f, runs):
    f()  # warm-up
    return [f() for _ in range(runs)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truyvet", nargs="?", default=os.path.join("target", "release", "truyvet"))
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--venues", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--missing", type=float, default=0.4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=os.path.expanduser("~/.cache/truyvet-bench/ingest"))
    ap.add_argument("--json")
    args = ap.parse_args()
    import duckdb

    csv_path, pq_path = make_inputs(args, duckdb.connect())
    work = tempfile.mkdtemp(dir=args.dir, prefix="run-")
    results = []
    try:
        for kind, path, source in [
            ("csv", csv_path, f"read_csv('{csv_path}')"),
            ("parquet", pq_path, f"read_parquet('{pq_path}')"),
        ]:
            before = child_peak_kib()
            ours = timed(lambda: truyvet_ingest(args.truyvet, path, args.rows, work), args.runs)
            peak = child_peak_kib()
            theirs = timed(lambda: duckdb_sort(duckdb, args.threads, source, work), args.runs)
            row = {
                "input": kind,
                "bytes": os.path.getsize(path),
                "rows": args.rows,
                "truyvet_s": ours,
                "truyvet_rows_per_s": args.rows / statistics.median(ours),
                # ru_maxrss of children is the largest child so far: exact when it grew here.
                "truyvet_peak_rss_mib": peak / 1024 if peak > before else None,
                "duckdb_s": theirs,
                "duckdb_rows_per_s": args.rows / statistics.median(theirs),
            }
            results.append(row)
            print(
                f"{kind:8} {args.rows:>12,} rows  truyvet {statistics.median(ours):6.2f} s "
                f"({row['truyvet_rows_per_s'] / 1e6:.2f} M rows/s; runs {', '.join(f'{s:.2f}' for s in ours)})  "
                f"DuckDB {statistics.median(theirs):6.2f} s ({row['duckdb_rows_per_s'] / 1e6:.2f} M rows/s)  "
                f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}x",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"params": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
