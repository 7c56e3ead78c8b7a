#!/usr/bin/env python3
"""Medians over the rounds of uring-probe.sh's output (stdin): one row per phase, one column group
per (enable_uring, transport). Usage: uring-probe.sh 5 | tee run.txt; uring-probe-summary.py < run.txt"""
import re, statistics, sys
rows = {}
for line in sys.stdin:
    f = dict(re.findall(r'(\w+)=(\S+)', line))
    if 'phase' not in f or 'us_per_op' not in f:
        continue
    key = (f['phase'], f['enable_uring'], f['transport'])
    rows.setdefault(key, []).append((float(f['us_per_op']), float(f['us_per_req']), float(f['srv_cpu_us_per_req'])))
print('| phase | enable_uring | transport | rounds | µs per op | µs per request | server CPU µs per request |')
print('|---|---|---|---|---|---|---|')
order = {'stat1': 0, 'stat4': 1, 'io1': 2, 'io4': 3, 'gen1': 4, 'gen2': 5}
for (phase, param, transport), v in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1], kv[0][2])):
    med = [statistics.median(x[i] for x in v) for i in range(3)]
    print(f'| {phase} | {param} | {transport} | {len(v)} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.2f} |')
