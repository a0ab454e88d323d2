#!/usr/bin/env python3
"""The scaling report: a Markdown table and a PNG plot from `truyvet-bench --json` results.

Usage: python3 benches/plot_scaling.py [benches/results/bench-*.json ...] [--png benches/scaling.png]

Each JSON file is one `truyvet-bench --scale S --json FILE` run. The table (printed, for
benches/README.md) has one row per run, sorted by rows; the plot shows, against check-ins on log
axes, ingest time, store size, open time and RSS, and F1 latency (p50, p99, whole process).
Needs matplotlib (`pip install matplotlib`).
"""
import argparse
import glob
import json
import os


def load(paths):
    runs = [json.load(open(p)) for p in paths]
    return sorted((r for r in runs if r.get("rows")), key=lambda r: r["rows"])


def human(n):
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return str(n)


def table(runs):
    head = ("| check-ins | persons | ingest s (M rows/s) | ingest peak RSS | store | open ms (+RSS) "
            "| F1 p50 / p99 ms | 1-thread / all-core F0/s | `truyvet trace` p50 / p99 ms | F1 size p50 | rows examined p50 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        i = r.get("ingest") or {}
        mib = lambda b: f"{b / 2**20:,.0f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"
        lat, proc = r["trace_latency"], r["process"]
        lines.append(
            f"| {human(r['rows'])} | {human(r['persons'])} "
            f"| {i.get('seconds', 0):.1f} ({i.get('rows_per_s', 0) / 1e6:.2f}) | {mib(i.get('peak_rss_bytes', 0))} "
            f"| {mib(r['store_bytes'])} ({r['store_bytes'] / r['rows']:.1f} B/row) "
            f"| {r['open_ms']:.2f} (+{mib(r['open_rss_bytes'])}) "
            f"| {lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} "
            f"| {r['throughput_one_thread_f0s_per_s']:.0f} / {r['throughput_all_cores_f0s_per_s']:.0f} "
            f"| {proc['p50_ms']:.1f} / {proc['p99_ms']:.1f} | {r['result_contacts_p50']} | {r['rows_examined_p50']} |"
        )
    return "\n".join(lines)


def plot(runs, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["rows"] for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    ax.plot(x, [(r.get("ingest") or {}).get("seconds", float("nan")) for r in runs], "o-", label="ingest (s)")
    ax.plot(x, [r["store_bytes"] / 2**30 for r in runs], "s-", label="store size (GiB)")
    ax.plot(x, [(r.get("ingest") or {}).get("peak_rss_bytes", 0) / 2**30 for r in runs], "^-", label="ingest peak RSS (GiB)")
    ax.set_title("ingest and storage grow linearly")
    ax2 = axes[1]
    ax2.plot(x, [r["open_ms"] for r in runs], "o-", label="open (ms)")
    ax2.plot(x, [r["open_rss_bytes"] / 2**20 for r in runs], "s-", label="RSS after open (MiB)")
    ax2.set_title("opening a store")
    ax3 = axes[2]
    ax3.plot(x, [r["trace_latency"]["p50_ms"] for r in runs], "o-", label="F1 p50 (ms, store open)")
    ax3.plot(x, [r["trace_latency"]["p99_ms"] for r in runs], "s-", label="F1 p99 (ms, store open)")
    ax3.plot(x, [r["process"]["p50_ms"] for r in runs], "^-", label="`truyvet trace` process p50 (ms)")
    ax3.set_title("F1 latency, 1,000 random F0s")
    m = runs[-1].get("machine") or {}
    for a in axes:
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("check-ins")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(f"truyvet scaling on {m.get('cores', '?')} cores, {m.get('memory_gib', 0):.0f} GiB "
                 f"({m.get('cpu', '')}), {m.get('profile', '')} build @ {m.get('commit', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main():
    here = os.path.dirname(__file__)
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--png", default=os.path.join(here, "scaling.png"))
    a = ap.parse_args()
    runs = load(a.files or sorted(glob.glob(os.path.join(here, "results", "bench-*.json"))))
    if not runs:
        raise SystemExit("no bench results: run `truyvet-bench --scale 1m --json benches/results/bench-1m.json` first")
    print(table(runs))
    plot(runs, a.png)
    print(f"\nwrote {a.png}")


if __name__ == "__main__":
    main()
