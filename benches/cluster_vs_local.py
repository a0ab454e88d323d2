#!/usr/bin/env python3
"""The same SQL locally and on a DataFusion Ballista cluster of one and of two executors, all
started from one `truyvet` binary (built with `--features cluster`) on this machine's loopback.

    python3 benches/cluster_vs_local.py --bin target/release/truyvet --store STORE --f0 ID [--runs 5]

Local: `truyvet sql --threads 2`. One executor: `truyvet cluster executor --concurrency 2`.
Two executors: two of `--concurrency 1` (the machine has 2 cores either way). Each statement
runs `--runs` times per setting after one warm-up; the figure is the median of the statement
time `truyvet sql --timing` prints (planning + execution + collecting the rows, not process
start). Results are checked equal to the local ones.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time

QUERIES = [
    ("count", "SELECT count(*) FROM checkins", []),
    ("one day by venue", "SELECT venue_id, count(*) AS n FROM checkins WHERE day = DATE '2021-08-03' "
     "GROUP BY venue_id ORDER BY n DESC, venue_id LIMIT 10", []),
    ("top venues", "-f queries/top_venues.sql", ["--param", "limit=20"]),
    ("missing check-out", "-f queries/missing_checkout_by_category.sql", []),
    ("f1_contacts", "SELECT count(*), sum(exposure_seconds) FROM f1_contacts('{f0}')", []),
]


def free_pair():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


def wait_port(port, timeout=30):
    start = time.time()
    while time.time() - start < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def run_sql(a, args, cluster):
    cmd = [a.bin, "sql", "--store", a.store, "--format", "csv", "--timing"]
    cmd += ["--cluster", cluster] if cluster else ["--threads", "2"]
    out = subprocess.run(cmd + args, capture_output=True, text=True, cwd=a.repo)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd + args)}: exit {out.returncode}\n{out.stderr}")
    ms = float(re.search(r"\(\d+ rows?, ([0-9.]+) ms\)", out.stderr).group(1))
    return out.stdout, ms


def measure(a, cluster, label, expected):
    results = {}
    for name, sql, extra in QUERIES:
        sql = sql.format(f0=a.f0)
        args = (sql.split(" ", 1) if sql.startswith("-f ") else [sql]) + extra
        rows, _ = run_sql(a, args, cluster)  # warm-up
        if expected is not None and rows != expected[name]:
            raise SystemExit(f"{label}: {name}: rows differ from local")
        times = [run_sql(a, args, cluster)[1] for _ in range(a.runs)]
        results[name] = (rows, statistics.median(times))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--f0", required=True)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    a.repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    a.store = os.path.abspath(a.store)

    local = measure(a, None, "local", None)
    expected = {k: v[0] for k, v in local.items()}
    table = {"local (2 threads)": local}
    for executors, concurrency in [(1, 2), (2, 1)]:
        procs = []
        work = tempfile.mkdtemp(prefix="truyvet-cluster-")
        try:
            sched = free_pair()
            procs.append(subprocess.Popen([a.bin, "cluster", "scheduler", "--bind", f"127.0.0.1:{sched}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(sched)
            for i in range(executors):
                port = free_pair()
                procs.append(subprocess.Popen(
                    [a.bin, "cluster", "executor", "--scheduler", f"127.0.0.1:{sched}", "--bind", f"127.0.0.1:{port}",
                     "--concurrency", str(concurrency), "--work-dir", os.path.join(work, f"e{i}")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                wait_port(port)
            time.sleep(1)  # executors register with the scheduler
            label = f"{executors} executor{'s' if executors > 1 else ''} × {concurrency} slot{'s' if concurrency > 1 else ''}"
            table[label] = measure(a, f"df://127.0.0.1:{sched}", label, expected)
        finally:
            for p in procs:
                p.terminate()
                p.wait()

    names = [q[0] for q in QUERIES]
    print(f"store {a.store}, medians of {a.runs} (ms, statement time as `truyvet sql --timing` prints it)")
    print("| setting | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, res in table.items():
        print(f"| {label} | " + " | ".join(f"{res[n][1]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
