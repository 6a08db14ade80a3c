#!/usr/bin/env python3
"""Ratios of ours to HAProxy over every adjacent pair of bracketed yardstick runs, and their median per row.

usage: medians.py RUN.txt [RUN.txt ...]    each RUN is the output of
       python3 ../shared/bench/bench.py --idle 0 haproxy ours haproxy ours haproxy
A pair is one measurement of ours and a HAProxy measurement made right before or after it (the machine switches
between a fast and a slow state, so HAProxy on both sides brackets it); the median over all pairs of all runs is the
figure docs/benchmarks.md quotes. Lower is better; 1.0 is as cheap (or as fast) as HAProxy.
"""
import json, statistics, sys

ROWS = ['rr_cpu_us_per_req', 'cpu_us_per_conn', 'bulk_cpu_s_per_gib', 'ws_cpu_us_per_msg', 'rr_p99_us', 'ws_p99_us']

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pairs = {k: [] for k in ROWS}
    for path in sys.argv[1:]:
        rows = [json.loads(l) for l in open(path) if l.startswith('{"proxy"')]
        for i, r in enumerate(rows):
            if r['proxy'] != 'ours':
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < len(rows) and rows[j]['proxy'] == 'haproxy':
                    for k in ROWS:
                        if rows[j].get(k):
                            pairs[k].append(r[k] / rows[j][k])
    for k in ROWS:
        if pairs[k]:
            print(f"{k:20s} median {statistics.median(pairs[k]):.2f}  over {len(pairs[k])} pairs: "
                  + ', '.join(f'{x:.2f}' for x in pairs[k]))

if __name__ == '__main__':
    main()
