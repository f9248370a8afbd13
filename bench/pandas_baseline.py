#!/usr/bin/env python3
"""Baseline for bench/fer2013_loader.ts: the usual pandas way of reading fer2013.csv.

    /usr/bin/python3 bench/pandas_baseline.py path/to/fer2013.csv[.gz] [--repeat N]

Times `pandas.read_csv` (which gunzips a `.gz` itself) plus `np.fromstring(pixels, sep=' ')` per row
into one uint8 array of shape [rows, 48, 48], the same work `loadFer2013` does. Prints one JSON line:
{"seconds": best, "runs": [...], "rows": N, "pandas": "x.y.z", "numpy": "x.y.z"}.
"""
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd


def load(path):
    df = pd.read_csv(path)
    pixels = df["pixels"].values
    images = np.empty((len(pixels), 48 * 48), dtype=np.uint8)
    with warnings.catch_warnings():
        # np.fromstring(text, sep=' ') is deprecated in favour of np.fromstring's binary mode
        # being removed; it is still what most FER2013 code uses.
        warnings.simplefilter("ignore", DeprecationWarning)
        for i, p in enumerate(pixels):
            images[i] = np.fromstring(p, dtype=np.uint8, sep=" ")
    labels = df["emotion"].values.astype(np.uint8)
    usages = df["Usage"].values
    return images.reshape(-1, 48, 48), labels, usages


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = args[0]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1
    runs = []
    rows = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        images, _labels, _usages = load(path)
        runs.append(time.perf_counter() - t0)
        rows = int(images.shape[0])
    print(json.dumps({"seconds": min(runs), "runs": runs, "rows": rows,
                      "pandas": pd.__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
