#!/usr/bin/env python3
"""A raw scan log from generated check-ins, for timing `truyvet ingest --scans`.

Each check-in becomes an undirected scan, each check-out a second scan, and one check-in in ten
is scanned again 1-30 s later (the duplicates QR points log). The log is sorted by time, as a
venue's export is, with scanned_at as Unix seconds.

    truyvet gen -o gen --scale 10m --format csv
    python3 benches/scan_log.py gen/checkins --files 4 -o scans.csv
    /usr/bin/time -f "%e s %M KB" truyvet ingest --store st --scans scans.csv
"""

import argparse
import csv
import random
from datetime import datetime
from pathlib import Path


def seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkins", type=Path, help="directory of generated check-in CSV files (one per day)")
    ap.add_argument("--files", type=int, default=4, help="how many of the first files to use (by name: day, then shard)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    files = sorted(p for p in args.checkins.iterdir() if p.suffix == ".csv")[: args.files]
    scans = []
    for f in files:
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    a = seconds(row["check_in"])
                except ValueError:
                    continue
                p, v = row["person_id"], row["venue_id"]
                scans.append((a, p, v))
                if rng.random() < 0.1:
                    scans.append((a + rng.randint(1, 30), p, v))
                if row["check_out"]:
                    try:
                        scans.append((seconds(row["check_out"]), p, v))
                    except ValueError:
                        pass
    scans.sort(key=lambda s: s[0])
    with args.out.open("w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["person_id", "venue_id", "scanned_at", "direction"])
        for t, p, v in scans:
            w.writerow([p, v, t, ""])
    print(f"{len(scans)} scans from {len(files)} file(s) -> {args.out}")


if __name__ == "__main__":
    main()
