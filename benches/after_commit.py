#!/usr/bin/env python3
"""How traces answer right after a commit: `truyvet serve` over a store, one keep-alive client
tracing the same F0s warm, then again right after each of a few small ingest commits.

The store is modified (each commit adds a few rows to its last day): give it a copy.

    cp -r ~/.cache/truyvet-bench/stores/p5000000-v80000-d14-x1.43-s42-2021-08-01-csv-f5 /tmp/st
    python3 benches/after_commit.py target/release/truyvet /tmp/st \\
        --data ~/.cache/truyvet-bench/data/p5000000-v80000-d14-x1.43-s42-2021-08-01-csv/checkins

F0s are sampled from the CSV files the store was ingested from (`--data`). Prints the warm pass
and each pass after a commit: p50 / p90 / p99 of one request, and the pass's total.
"""

import argparse
import http.client
import random
import statistics
import subprocess
import time
from pathlib import Path


def sample_f0s(data: Path, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    files = sorted(data.glob("*.csv"))
    picked = rng.sample(files, min(20, len(files)))
    f0s: list[str] = []
    for f in picked:
        with f.open() as fh:
            fh.readline()
            lines = [line for line in (fh.readline() for _ in range(20_000)) if line]
        f0s += [line.split(",")[0] for line in rng.sample(lines, min(len(lines), n // len(picked) + 1))]
    return f0s[:n]


def summary(ms: list[float]) -> str:
    s = sorted(ms)
    p = lambda q: s[min(len(s) - 1, int(len(s) * q))]  # noqa: E731
    return f"p50 {statistics.median(s):.2f} / p90 {p(0.9):.2f} / p99 {p(0.99):.2f} ms, total {sum(s) / 1000:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("truyvet", help="the truyvet binary")
    ap.add_argument("store", type=Path, help="a store to serve (modified: use a copy)")
    ap.add_argument("--data", type=Path, required=True, help="directory of the CSV files it was ingested from")
    ap.add_argument("--f0s", type=int, default=600)
    ap.add_argument("--commits", type=int, default=2)
    ap.add_argument("--day", default="2021-08-14", help="the day the commits add rows to")
    ap.add_argument("--port", type=int, default=18_431)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    f0s = sample_f0s(a.data, a.f0s, a.seed)
    server = subprocess.Popen(
        [a.truyvet, "serve", "--store", str(a.store), "--http", f"127.0.0.1:{a.port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port)
                c.request("GET", "/api/v1/stats")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", a.port)

        def one_pass() -> list[float]:
            ms = []
            for p in f0s:
                t = time.perf_counter()
                conn.request("GET", f"/api/v1/trace?f0={p}&format=csv")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise SystemExit(f"trace of {p}: HTTP {r.status}")
                ms.append((time.perf_counter() - t) * 1000)
            return ms

        one_pass()
        print(f"warm:           {summary(one_pass())}")
        for k in range(a.commits):
            csv = a.store.parent / f"after-commit-{k}.csv"
            rows = [f"{p},BENCH-LATE-{k},{a.day}T{8 + i % 10:02}:00:00Z," for i, p in enumerate(f0s[:50])]
            csv.write_text("person_id,venue_id,check_in,check_out\n" + "\n".join(rows) + "\n")
            subprocess.run([a.truyvet, "ingest", "--store", str(a.store), str(csv)], check=True, capture_output=True)
            print(f"after commit {k + 1}: {summary(one_pass())}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
