#!/usr/bin/env python3
"""Chart of a soak's samples (SoakTest's CSV): sessions, RSS, descriptors and pooled buffers over time, one panel each, with
the moments backends were killed, drained and restored marked. usage: soak-chart.py SOAK.csv OUT.svg"""
import csv, sys

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    t = [int(r['seconds']) for r in rows]
    series = [('sessions open', [int(r['sessions']) for r in rows], ''),
              ('RSS (MiB)', [int(r['rss_kb']) / 1024 for r in rows], ''),
              ('descriptors', [int(r['fds']) for r in rows], ''),
              ('pooled buffers in use', [int(r['buffers_in_use']) for r in rows], '')]
    w, ph, left, top = 820, 150, 70, 40
    h = top + len(series) * (ph + 30) + 40
    tmax = max(t) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">Soak: {sys.argv[1].split("/")[-1]}, {tmax} s '
           f'(red: a backend of each pool killed for 3 s; blue: drained / restored)</text>']
    x = lambda s: left + (w - left - 20) * s / tmax
    for i, (name, ys, _) in enumerate(series):
        y0 = top + i * (ph + 30)
        ymax = max(ys) * 1.1 or 1
        out.append(f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{name} (max {max(ys):.0f})</text>')
        out.append(f'<rect x="{left}" y="{y0 + 18}" width="{w - left - 20}" height="{ph}" fill="none" stroke="#ccc"/>')
        for r in rows:
            ev = r['event']
            if ev:
                color = '#c00' if 'killed' in ev else '#06c'
                out.append(f'<line x1="{x(int(r["seconds"])):.1f}" y1="{y0 + 18}" x2="{x(int(r["seconds"])):.1f}" '
                           f'y2="{y0 + 18 + ph}" stroke="{color}" stroke-opacity="0.3"/>')
        pts = ' '.join(f'{x(s):.1f},{y0 + 18 + ph - ph * v / ymax:.1f}' for s, v in zip(t, ys))
        out.append(f'<polyline points="{pts}" fill="none" stroke="#222" stroke-width="1.5"/>')
        out.append(f'<text x="{left - 5}" y="{y0 + 24}" text-anchor="end">{ymax:.0f}</text>')
        out.append(f'<text x="{left - 5}" y="{y0 + 18 + ph}" text-anchor="end">0</text>')
    out.append(f'<text x="{left}" y="{h - 10}">0 s</text><text x="{w - 20}" y="{h - 10}" text-anchor="end">{tmax} s</text>')
    out.append('</svg>')
    open(sys.argv[2], 'w').write('\n'.join(out))

main()
