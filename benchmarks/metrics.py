"""Streaming per-target R2 + Pearson (genomenn.metrics) against two baselines on the same arrays, in one run.

    python benchmarks/metrics.py                   # 2000 x 1024 x 24 float32 preds and targets (50M values each)
    python benchmarks/metrics.py --seqs 200        # a quicker look

(s) genomenn: one `CoMoments(per_target=True)` updated in batches of `--batch` sequences, then `.r2()` and
    `.pearsonr()`.
(a) float64 numpy two-pass reference on the whole array.
(b) scikit-learn `r2_score(multioutput='raw_values')` + `scipy.stats.pearsonr` per target.
Prints times, ratios, peak extra memory (tracemalloc, measured in separate runs) and the largest difference from (a).
"""
import argparse
import os
import tracemalloc

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
from scipy import stats
from sklearn.metrics import r2_score

from genomenn.metrics import CoMoments

from timing import timed


def streaming(preds, targets, batch):
    m = CoMoments(per_target=True)
    for i in range(0, len(preds), batch): m.update(preds[i:i+batch], targets[i:i+batch])
    return m.r2(), m.pearsonr()

def two_pass_f64(preds, targets):
    T = preds.shape[-1]
    p = preds.reshape(-1, T).astype(np.float64); t = targets.reshape(-1, T).astype(np.float64)
    dp = p - p.mean(0); dt = t - t.mean(0)
    ss_tot = (dt*dt).sum(0)
    r2 = 1 - ((t - p)**2).sum(0)/ss_tot
    r = (dp*dt).sum(0)/np.sqrt((dp*dp).sum(0)*ss_tot)
    return r2, r

def sklearn_scipy(preds, targets):
    T = preds.shape[-1]
    p = preds.reshape(-1, T); t = targets.reshape(-1, T)
    r2 = r2_score(t, p, multioutput='raw_values')
    r = np.array([stats.pearsonr(p[:, j], t[:, j])[0] for j in range(T)])
    return r2, r

def peak_mb(fn):
    tracemalloc.start(); tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak/2**20

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seqs', type=int, default=2000); ap.add_argument('--length', type=int, default=1024)
    ap.add_argument('--targets', type=int, default=24); ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('--repeat', type=int, default=2, help='timing repeats (best is reported)')
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    shape = (a.seqs, a.length, a.targets)
    # coverage-like tracks: a large per-track level, a modest spread, predictions that are noisy and biased
    level = rng.uniform(20, 2000, a.targets).astype(np.float32)
    targets = level + rng.standard_normal(shape, dtype=np.float32)*np.sqrt(level)
    preds = 0.9*targets + 0.1*level + rng.standard_normal(shape, dtype=np.float32)*np.sqrt(level)/2
    n = preds.size
    batch_mb = 2*a.batch*a.length*a.targets*preds.itemsize/2**20
    print(f"preds and targets {shape} float32: {n/1e6:.1f}M values each; one batch of {a.batch} sequences "
          f"(preds + targets) = {batch_mb:.1f} MB")
    runs = {'(s) genomenn streaming': lambda: streaming(preds, targets, a.batch),
            '(a) numpy float64 two-pass': lambda: two_pass_f64(preds, targets),
            '(b) sklearn + scipy per target': lambda: sklearn_scipy(preds, targets)}
    res = {k: timed(f, a.repeat) for k, f in runs.items()}
    mem = {k: peak_mb(f) for k, f in runs.items()}
    ref_r2, ref_r = res['(a) numpy float64 two-pass'][1]
    t_s = res['(s) genomenn streaming'][0]
    print(f"{'method':32s} {'time s':>8s} {'x slower than (s)':>18s} {'peak extra MB':>14s} {'in batches':>10s} "
          f"{'max|dR2| vs (a)':>16s} {'max|dr| vs (a)':>15s}")
    for k, (t, (r2v, rv)) in res.items():
        print(f"{k:32s} {t:8.3f} {t/t_s:18.2f} {mem[k]:14.1f} {mem[k]/batch_mb:10.2f} "
              f"{np.abs(r2v - ref_r2).max():16.2e} {np.abs(rv - ref_r).max():15.2e}")
    print(f"throughput (s): {2*n/t_s/1e6:.0f}M values/s")

if __name__ == '__main__':
    main()
