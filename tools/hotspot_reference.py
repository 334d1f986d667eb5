"""Reference for gridwall's emerging hot spots (analysis/src/hotspot.rs), computed independently
with PySAL: Getis-Ord Gi* by esda.G_Local (binary queen weights on a 10 x 10 lattice of cells,
star: each cell counts itself), the Mann-Kendall trend of each cell's daily z-scores by
pymannkendall.original_test, and the categories of ArcGIS Pro's Emerging Hot Spot Analysis
written here from its documentation ("How Emerging Hot Spot Analysis works").

Writes analysis/tests/hotspots.json: the daily counts (input) and, per cell, the last day's z,
the trend's z and p, and the category. Run once when the fixture changes:

    python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install esda pymannkendall
    /tmp/pyref/bin/python tools/hotspot_reference.py
"""

import json
import pathlib

import numpy as np
import pymannkendall as mk
from esda.getisord import G_Local
from libpysal.weights import lat2W

N, DAYS = 10, 20
rng = np.random.default_rng(20261206)

# Background: Poisson(4) everywhere, then planted patterns (row, col blocks).
counts = rng.poisson(4.0, size=(DAYS, N, N)).astype(float)
def block(r0, c0, size=2):
    return (slice(r0, r0 + size), slice(c0, c0 + size))
# Persistent: high every day.
counts[(slice(None),) + block(0, 0)] += 25
# Intensifying: rising, high throughout.
for t in range(DAYS):
    counts[(t,) + block(0, 7)] += 12 + 1.5 * t
# Diminishing: falling, high throughout.
for t in range(DAYS):
    counts[(t,) + block(0, 4)] += 45 - 1.5 * t
# New: high on the last day only.
counts[(DAYS - 1,) + block(7, 0)] += 30
# Consecutive: high the last four days only.
counts[(slice(DAYS - 4, DAYS),) + block(7, 7)] += 25
# Sporadic: high every third day, including the last.
for t in range(DAYS - 1, -1, -3):
    counts[(t,) + block(4, 4)] += 25
# Oscillating: a quiet 3 x 3 area on some days, busy on others and on the last.
for t in range(DAYS):
    if t % 4 == 1:
        counts[(t,) + block(4, 0, 3)] = 0
    elif t % 4 == 3 or t == DAYS - 1:
        counts[(t,) + block(4, 0, 3)] += 20
# Historical: high until the last two days.
counts[(slice(0, DAYS - 2),) + block(8, 4)] += 25
# Cold: a quiet corner every day.
counts[(slice(None),) + block(3, 7, 3)] = 0

# Whole reports, as the server counts them (the file holds these).
counts = np.round(counts)

w = lat2W(N, N, rook=False)
w.transform = "B"
z = np.zeros((DAYS, N * N))
for t in range(DAYS):
    g = G_Local(counts[t].reshape(-1), w, transform="B", star=True, permutations=0)
    z[t] = g.Zs

def category(series_z, trend, trend_p):
    hot = series_z >= 1.96
    cold = series_z <= -1.96
    n = len(series_z)
    significant = trend_p < 0.05
    def classify(spot, other, rising):
        share = spot.sum() / n
        final = spot[-1]
        if final and spot.sum() == 1:
            return "new"
        if final:
            run = 0
            for v in spot[::-1]:
                if not v:
                    break
                run += 1
            if run >= 2 and spot[: n - run].sum() == 0 and share < 0.9:
                return "consecutive"
            if share >= 0.9:
                if significant and rising:
                    return "intensifying"
                if significant and not rising:
                    return "diminishing"
                return "persistent"
            if other.any():
                return "oscillating"
            return "sporadic"
        if share >= 0.9:
            return "historical"
        return None
    c = classify(hot, cold, trend > 0)
    if c:
        return c + "_hot"
    c = classify(cold, hot, trend < 0)
    if c:
        return c + "_cold"
    return "none"

cells = []
for i in range(N * N):
    series = z[:, i]
    r = mk.original_test(series)
    cells.append({
        "row": i // N,
        "col": i % N,
        "z": float(series[-1]),
        "trend_z": float(r.z),
        "trend_p": float(r.p),
        "class": category(series, r.z, r.p),
    })

out = {"n": N, "days": DAYS, "counts": counts.astype(int).tolist(), "cells": cells}
path = pathlib.Path(__file__).resolve().parent.parent / "analysis" / "tests" / "hotspots.json"
path.parent.mkdir(exist_ok=True)
path.write_text(json.dumps(out, indent=1))
classes = {}
for c in cells:
    classes[c["class"]] = classes.get(c["class"], 0) + 1
print(path, classes)
