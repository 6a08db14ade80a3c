#!/usr/bin/env python3
"""Draws the yardstick's cost rows as an SVG bar chart, from bench.py output (one JSON object per proxy per line).

usage: chart.py OUT.svg RUN.txt [RUN.txt ...]     each RUN is one bench.py run; its label is the file name
Every cost row is shown as each proxy's ratio to HAProxy measured in the same run (HAProxy = 1.0, lower is better),
so runs of different noise levels stay comparable. A run that measured a proxy more than once (bench.py haproxy ours
haproxy ours haproxy: HAProxy bracketing ours, because this machine switches between a fast and a slow state) is
drawn as the median of the ratios of every measurement against each HAProxy measurement next to it, and labelled with
the number of those pairs: no single pair is picked. No dependency beyond Python 3.
"""
import json, os, sys

ROWS = [('rr_cpu_us_per_req', 'CPU per keep-alive request'), ('cpu_us_per_conn', 'CPU per new connection'),
        ('bulk_cpu_s_per_gib', 'CPU per GiB (bulk)'), ('ws_cpu_us_per_msg', 'CPU per WebSocket message'),
        ('idle_bytes_per_conn', 'RSS per idle WebSocket')]
COLORS = {'haproxy': '#8c8c8c', 'nginx': '#3b8a3b', 'ours': '#2f6fdb'}

def load(path):
    """The run's measurements, in the order bench.py made them."""
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith('{') and '"proxy"' in line:
            rows.append(json.loads(line))
    return rows

def ratio(v, b):
    return v / b if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b else None

def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2

def pairs(rows, i):
    """HAProxy measurements next to measurement i (all of them when the run has no proxy twice)."""
    if len({r['proxy'] for r in rows}) == len(rows):
        return [r for r in rows if r['proxy'] == 'haproxy']
    return [rows[j] for j in (i - 1, i + 1) if 0 <= j < len(rows) and rows[j]['proxy'] == 'haproxy']

def main():
    out, runs = sys.argv[1], sys.argv[2:]
    series = []  # (label, proxy, [ratio per row])
    for path in runs:
        rows = load(path)
        if not any(r['proxy'] == 'haproxy' for r in rows):
            continue
        label = os.path.splitext(os.path.basename(path))[0].replace('yardstick-', '')
        for proxy in ('nginx', 'ours'):
            found = [(i, r) for i, r in enumerate(rows) if r['proxy'] == proxy]
            if not found:
                continue
            n = sum(len(pairs(rows, i)) for i, _ in found)
            ratios = [median([ratio(r.get(key), b.get(key)) for i, r in found for b in pairs(rows, i)])
                      for key, _ in ROWS]
            series.append((label + (f' (median of {n} pairs)' if n > 1 else ''), proxy, ratios))
    W, rowH, left, top = 960, 26 * max(1, len(series)) + 30, 330, 40
    H = top + rowH * len(ROWS) + 40
    scale = 360  # pixels per 1.0
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">Cost relative to HAProxy in the same run (lower is better)</text>']
    x1 = left + scale
    svg.append(f'<line x1="{x1}" y1="{top - 10}" x2="{x1}" y2="{H - 30}" stroke="#c00" stroke-dasharray="4 3"/>')
    svg.append(f'<text x="{x1 + 4}" y="{H - 16}" fill="#c00">1.0 = HAProxy</text>')
    xt = left + 0.9 * scale  # the targets of issue 6: 0.90 (0.85 for bulk against haproxy-splice)
    svg.append(f'<line x1="{xt}" y1="{top - 10}" x2="{xt}" y2="{H - 30}" stroke="#2b8a3e" stroke-dasharray="2 3"/>')
    svg.append(f'<text x="{xt - 70}" y="{H - 16}" fill="#2b8a3e">0.9 target</text>')
    for i, (_, title) in enumerate(ROWS):
        y0 = top + i * rowH
        svg.append(f'<text x="10" y="{y0 + 16}" font-weight="bold">{title}</text>')
        for j, (label, proxy, ratios) in enumerate(series):
            r = ratios[i]
            y = y0 + 22 + j * 26
            svg.append(f'<text x="10" y="{y + 13}" fill="#555">{label}: {proxy}</text>')
            if r is None:
                continue
            w = min(W - left - 60, r * scale)
            svg.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="18" fill="{COLORS.get(proxy, "#999")}"/>')
            svg.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}">{r:.2f}</text>')
    svg.append('</svg>')
    open(out, 'w').write('\n'.join(svg))

if __name__ == '__main__':
    main()
