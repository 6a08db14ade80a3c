#!/usr/bin/env python3
"""Ratios of ours to HAProxy over every adjacent pair of bracketed yardstick runs, and their median per row.

usage: medians.py RUN.txt [RUN.txt ...]    each RUN is the output of
       python3 ../shared/bench/bench.py --idle 0 haproxy ours haproxy ours haproxy
A pair is one measurement of ours and a HAProxy measurement made right before or after it (the machine switches
between a fast and a slow state, so HAProxy on both sides brackets it); a run with no proxy measured twice pairs ours
with its HAProxy measurement, as chart.py does. The median over all pairs of the bracketed runs is the figure
docs/benchmarks.md quotes. Lower is better; 1.0 is as cheap (or as fast) as HAProxy.
"""
import statistics, sys

from chart import load, pairs, ratio  # the same reading and pairing as the chart, so both quote the same figures

ROWS = ['rr_cpu_us_per_req', 'cpu_us_per_conn', 'bulk_cpu_s_per_gib', 'ws_cpu_us_per_msg', 'rr_p99_us', 'ws_p99_us']

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    found = {k: [] for k in ROWS}
    for path in sys.argv[1:]:
        rows = load(path)
        for i, r in enumerate(rows):
            if r['proxy'] != 'ours':
                continue
            for b in pairs(rows, i):
                for k in ROWS:
                    x = ratio(r.get(k), b.get(k))
                    if x is not None:
                        found[k].append(x)
    for k in ROWS:
        if found[k]:
            print(f"{k:20s} median {statistics.median(found[k]):.2f}  over {len(found[k])} pairs: "
                  + ', '.join(f'{x:.2f}' for x in found[k]))

if __name__ == '__main__':
    main()
