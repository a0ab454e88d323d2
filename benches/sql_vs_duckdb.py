#!/usr/bin/env python3
"""`truyvet sql` (DataFusion over the store) against DuckDB on the same Parquet files.

Usage: python3 benches/sql_vs_duckdb.py STORE_DIR [TRUYVET_BIN] [--runs 5] [--threads 2] [--json OUT]
       [--pushdown-filters true|false] [--run-aggregation true|false]

Both engines see the same files: the Parquet parts named by the store's live manifest and its
venues file (DuckDB through `read_parquet([...])` views named `checkins` and `venues`). Each
query runs once to warm caches, then `--runs` times; the medians are compared. truyvet times are
the per-statement times `truyvet sql --timing` prints (parse, plan, execute, collect; one process,
one session), DuckDB times are `sql(..).fetchall()` in one connection. Needs
`pip install duckdb`. Report machine, build profile and commit with every figure.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

SCANS = {
    "count": "SELECT count(*) FROM checkins",
    "per_day": "SELECT day, count(*) AS n, count(DISTINCT person_id) AS persons FROM checkins GROUP BY day ORDER BY day",
    "top_venues": "SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY n DESC, venue_id LIMIT 10",
    "persons": "SELECT person_id, count(*) AS visits, min(check_in) AS first_seen, max(check_in) AS last_seen "
    "FROM checkins GROUP BY person_id ORDER BY visits DESC, person_id LIMIT 10",
    "per_hour": "SELECT date_part('hour', check_in) AS h, count(*) AS n FROM checkins GROUP BY 1 ORDER BY 1",
    "missing_checkout": "SELECT count(*) FROM checkins WHERE check_out IS NULL",
    "category_join": "SELECT v.category, count(*) AS n, count(*) - count(c.check_out) AS missing "
    "FROM checkins c LEFT JOIN venues v ON v.venue_id = c.venue_id GROUP BY v.category ORDER BY n DESC",
    "one_day_filter": "SELECT venue_id, count(*) AS n FROM checkins WHERE day = DATE '{day}' "
    "GROUP BY venue_id ORDER BY n DESC, venue_id LIMIT 10",
}
POINTS = {
    "point_count": "SELECT count(*) FROM checkins WHERE venue_id = '{venue}' AND day = DATE '{day}'",
    "point_rows": "SELECT * FROM checkins WHERE venue_id = '{venue}' AND day = DATE '{day}' ORDER BY check_in, person_id",
    "point_hour": "SELECT person_id, check_in FROM checkins WHERE venue_id = '{venue}' "
    "AND check_in >= TIMESTAMP '{day} 08:00:00' AND check_in < TIMESTAMP '{day} 09:00:00' ORDER BY check_in, person_id",
}


def manifest(store):
    current = open(os.path.join(store, "CURRENT")).read().strip()
    return json.load(open(os.path.join(store, current)))


def truyvet_times(bin_, store, sql, runs, threads, extra):
    script = ";\n".join([sql] * (runs + 1)) + ";"
    out = subprocess.run(
        [bin_, "sql", "--store", store, "--format", "csv", "--timing", "--threads", str(threads), *extra, script],
        capture_output=True, text=True, check=True,
    )
    times = [float(m) for m in re.findall(r"\(\d+ rows?, ([0-9.]+) ms\)", out.stderr)]
    assert len(times) == runs + 1, out.stderr
    return times[1:], out.stdout.split("\n\n")[0]


def duckdb_over_store(store, threads):
    """A DuckDB connection with views `checkins` and `venues` over exactly the Parquet files of
    the store's live manifest. Returns (connection, manifest, part paths)."""
    import duckdb

    m = manifest(store)
    parts = [os.path.join(store, p["path"]) for p in m["parts"]]
    con = duckdb.connect()
    con.sql(f"SET threads = {threads}")
    con.sql("SET TimeZone = 'UTC'")
    # The store writes Timestamp(Second) columns as plain INT64 with an Arrow schema hint
    # (Parquet has no seconds unit); DuckDB ignores the hint and sees BIGINT, so the view
    # converts. Filters on check_in then cannot use Parquet statistics in DuckDB.
    con.sql(
        "CREATE VIEW checkins AS SELECT person_id, venue_id, to_timestamp(check_in) AS check_in, "
        f"to_timestamp(check_out) AS check_out, day FROM read_parquet({parts!r})"
    )
    venues = os.path.join(store, m["venue_attrs"]) if m.get("venue_attrs") else None
    if venues:
        con.sql(f"CREATE VIEW venues AS SELECT * FROM read_parquet('{venues}')")
    return con, m, parts


def duckdb_times(con, sql, runs):
    con.sql(sql).fetchall()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con.sql(sql).fetchall()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("bin", nargs="?", default="target/release/truyvet")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    ap.add_argument("--pushdown-filters", choices=["true", "false"], help="override truyvet's default")
    ap.add_argument("--run-aggregation", choices=["true", "false"], help="override truyvet's default")
    a = ap.parse_args()
    import duckdb

    con, m, parts = duckdb_over_store(a.store, a.threads)
    rows = sum(p["rows"] for p in m["parts"])
    # A busy venue on a middle day, so the point queries return rows.
    days = sorted({p["path"].split("day=")[1].split("/")[0] for p in m["parts"]})
    day = days[len(days) // 2]
    venue = con.sql(
        f"SELECT venue_id FROM checkins WHERE day = DATE '{day}' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1 OFFSET 50"
    ).fetchall()[0][0]
    print(f"store {a.store}: {rows} rows, {len(parts)} parts; point queries on {venue} / {day}; {a.threads} threads")
    print(f"duckdb {duckdb.__version__}; truyvet {a.bin}; medians of {a.runs} runs after 1 warm-up\n")
    results = []
    print(f"{'query':18} {'truyvet ms':>11} {'duckdb ms':>10} {'ratio':>6}")
    for name, sql in list(SCANS.items()) + list(POINTS.items()):
        sql = sql.format(day=day, venue=venue)
        extra = ["--pushdown-filters", a.pushdown_filters] if a.pushdown_filters else []
        extra += ["--run-aggregation", a.run_aggregation] if a.run_aggregation else []
        tv, first = truyvet_times(a.bin, a.store, sql, a.runs, a.threads, extra)
        dd = duckdb_times(con, sql, a.runs)
        want = len(con.sql(sql).fetchall())
        got = len(first.strip().splitlines()) - 1
        assert got == want, f"{name}: truyvet returned {got} rows, duckdb {want}"
        tvm, ddm = statistics.median(tv), statistics.median(dd)
        results.append({"query": name, "sql": sql, "truyvet_ms": tv, "duckdb_ms": dd, "truyvet_median_ms": tvm, "duckdb_median_ms": ddm})
        print(f"{name:18} {tvm:11.1f} {ddm:10.1f} {tvm / ddm:6.2f}")
    if a.json:
        json.dump({"store": a.store, "rows": rows, "threads": a.threads, "duckdb": duckdb.__version__, "results": results}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
