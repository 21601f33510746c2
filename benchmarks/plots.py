"""Benchmark: genomenn.plots.jointplot on 1,000,000 (x, y) pairs versus a plain seaborn jointplot scatter
(what Basenji's `jointplot` does), same data, same run; wall time to a saved file and the file size.

    python benchmarks/plots.py [--n 1000000] [--repeats 3] [--formats png pdf]
"""
import argparse
import os
import statistics
import tempfile
import time
import warnings

os.environ.setdefault('MPLBACKEND', 'Agg')
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

import genomenn.plots as gp


def data(n, seed=0):
    "Correlated Poisson counts on a log2 scale (measured vs predicted coverage of one track)."
    rng = np.random.default_rng(seed)
    lam = rng.gamma(2.0, 8.0, n)
    return np.log2(rng.poisson(lam) + 1.0), np.log2(rng.poisson(lam * 1.1) + 1.0)


def baseline(x, y, out):
    "Basenji's recipe on seaborn 0.13: sns.jointplot scatter, square limits, diagonal, savefig."
    g = sns.jointplot(x=x, y=y, color='black', space=0, joint_kws={'alpha': 0.5, 's': 10})
    lo, hi = gp.scatter_lims(x, y)
    g.ax_joint.set_xlim(lo, hi); g.ax_joint.set_ylim(lo, hi)
    g.ax_joint.plot([lo, hi], [lo, hi], ls='--', color='black')
    g.savefig(out)
    plt.close(g.figure)


def ours(x, y, out):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', gp.PlotWarning)      # the "drawn as a hexbin" notice
        g = gp.jointplot(x, y, out, square=True)
    plt.close(g.figure)


def timed(fn, x, y, out, repeats):
    "Median wall and CPU (this process) seconds, and the file size."
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(x, y, out)
        wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), os.path.getsize(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_000_000)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--formats', nargs='+', default=['png', 'pdf'])
    a = ap.parse_args()
    x, y = data(a.n)
    print(f'jointplot of {a.n:,} pairs, median of {a.repeats} runs '
          f'(matplotlib {matplotlib.__version__}, seaborn {sns.__version__})')
    print('wall = elapsed seconds, cpu = this process\'s CPU seconds (steadier on a shared machine)')
    print(f"{'format':<7}{'seaborn wall':>13}{'genomenn wall':>14}{'ratio':>7}"
          f"{'seaborn cpu':>12}{'genomenn cpu':>13}{'ratio':>7}"
          f"{'seaborn MB':>11}{'genomenn MB':>12}")
    with tempfile.TemporaryDirectory() as d:
        ours(x[:1000], y[:1000], os.path.join(d, 'warm.png'))      # imports and font cache out of the timing
        for fmt in a.formats:
            bw, bc, bs = timed(baseline, x, y, os.path.join(d, f'baseline.{fmt}'), a.repeats)
            ow, oc, os_ = timed(ours, x, y, os.path.join(d, f'genomenn.{fmt}'), a.repeats)
            print(f'{fmt:<7}{bw:>13.2f}{ow:>14.2f}{bw / ow:>6.1f}x{bc:>12.2f}{oc:>13.2f}{bc / oc:>6.1f}x'
                  f'{bs / 1e6:>11.2f}{os_ / 1e6:>12.3f}')


if __name__ == '__main__':
    main()
