#!/usr/bin/env python3
"""Chart of sessions per backend during a rebalance (RebalanceSocketIoTest's target/rebalance-POLICY.csv).
usage: rebalance-chart.py rebalance-source-ip.csv OUT.svg"""
import csv, sys

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lines = open(sys.argv[1]).read().splitlines()
    header = lines[0].split(',')
    added = int(header[-1].split('=')[1])
    names = header[1:-1]
    rows = [list(map(int, l.split(','))) for l in lines[1:] if l]
    t = [r[0] for r in rows]
    w, h, left, top, ph = 820, 300, 60, 40, 220
    tmax = max(t) or 1
    ymax = max(max(r[1:]) for r in rows) * 1.15 or 1
    x = lambda v: left + (w - left - 120) * v / tmax
    y = lambda v: top + ph - ph * v / ymax
    colors = ['#c33', '#36c', '#2a2']
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">Sessions per backend: {sys.argv[1].split("/")[-1]}'
           f' (grey line: s3 added)</text>',
           f'<rect x="{left}" y="{top}" width="{w - left - 120}" height="{ph}" fill="none" stroke="#ccc"/>',
           f'<line x1="{x(added):.1f}" y1="{top}" x2="{x(added):.1f}" y2="{top + ph}" stroke="#999" stroke-dasharray="4"/>']
    for i, name in enumerate(names):
        pts = ' '.join(f'{x(r[0]):.1f},{y(r[i + 1]):.1f}' for r in rows)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[i % 3]}" stroke-width="2"/>')
        out.append(f'<text x="{w - 110}" y="{top + 20 + 18 * i}" fill="{colors[i % 3]}">{name}: {rows[-1][i + 1]} at the end</text>')
    out.append(f'<text x="{left - 5}" y="{top + 10}" text-anchor="end">{ymax:.0f}</text>')
    out.append(f'<text x="{left - 5}" y="{top + ph}" text-anchor="end">0</text>')
    out.append(f'<text x="{left}" y="{h - 20}">0 s</text><text x="{w - 120}" y="{h - 20}" text-anchor="end">{tmax / 1000:.1f} s</text>')
    out.append('</svg>')
    open(sys.argv[2], 'w').write('\n'.join(out))

main()
