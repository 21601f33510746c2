"""`genomenn eval`'s streaming evaluation against SeqNN.predict + a two-pass numpy computation of the same metrics.

    python benchmarks/eval.py               # shared Borzoi-lite checkpoint, tiny hg38 'train' split (9 sequences)
    python benchmarks/eval.py --split test  # the 2-sequence test split of the acceptance tables

(s) genomenn: `evaluate(seqnn, data_dir, rc=, shifts=)`: batches from the TFRecords, the ensemble prediction, float64
    streaming co-moments per batch (Pearson R, R2), the position sample and first tracks kept for the figures.
(b) baseline: `SeqDataset.numpy()` (every sequence and target in memory), `SeqNN.predict(seqs, rc=, shifts=)`, then
    Pearson R and R2 per target by a float64 two-pass numpy computation on the whole arrays.
Both plain and with --rc --shifts=-1,0,1 (6 members), in the same run, best of `--reps` interleaved runs; prints
sequences/second, the ratio and the largest difference between (s) and (b). Needs the shared data (GENOMENN_SHARED,
default ../shared).
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np

from genomenn.data import read_targets
from genomenn.evaluate import evaluate
from genomenn.model import SeqNN
from genomenn.tfrecords import SeqDataset

from timing import timed

SHARED = Path(os.environ.get('GENOMENN_SHARED', Path(__file__).resolve().parents[2]/'shared'))/'data'

def two_pass(preds, targets):
    "Per-target Pearson R and R2, float64, two passes over the whole arrays."
    T = preds.shape[-1]
    p, t = preds.reshape(-1, T).astype(np.float64), targets.reshape(-1, T).astype(np.float64)
    dp, dt = p - p.mean(0), t - t.mean(0)
    ss_tot = (dt*dt).sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        return (dp*dt).sum(0)/np.sqrt((dp*dp).sum(0)*ss_tot), 1 - ((t - p)**2).sum(0)/ss_tot

def baseline(net, data_dir, split, rc, shifts, pair, bs):
    seqs, targets = SeqDataset(data_dir, split, batch_size=bs).numpy()
    preds = net.predict(seqs, rc=rc, shifts=shifts, strand_pair=pair if rc else None, batch_size=bs)
    return two_pass(preds, targets), len(seqs)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--split', default='train'); ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--batch', type=int, default=4)
    a = ap.parse_args()
    d = SHARED/'tfrecords'/'baskerville_tiny_hg38'
    net = SeqNN(SHARED/'params'/'baskerville__tests__data__eval__params.json').restore(
        SHARED/'models'/'baskerville_eval'/'baskerville__tests__data__eval__model.h5')
    pair = read_targets(d/'targets.txt')
    print(f'split {a.split!r} of {d.name}, batch {a.batch}, best of {a.reps} (after one warm-up call each)')
    print(f"{'ensemble':<22} {'genomenn eval (s)':>20} {'predict + 2-pass (b)':>22} {'b / s':>7} {'max |diff|':>11}")
    for label, rc, shifts in (('plain', False, (0,)), ('--rc --shifts=-1,0,1', True, (-1, 0, 1))):
        s_fn = lambda: evaluate(net, d, split=a.split, rc=rc, shifts=shifts, batch_size=a.batch)
        b_fn = lambda: baseline(net, d, a.split, rc, shifts, pair, a.batch)
        s_fn(); b_fn()                                      # trace both once
        ts = tb = np.inf
        for _ in range(a.reps):                             # interleaved: both see the same load
            t, res = timed(s_fn, 1); ts = min(ts, t)
            t, ((r, r2), n) = timed(b_fn, 1); tb = min(tb, t)
        diff = max(np.nanmax(np.abs(res.acc.pearsonr - r)), np.nanmax(np.abs(res.acc.r2 - r2)))
        print(f'{label:<22} {n/ts:>14.3f} seq/s {n/tb:>16.3f} seq/s {tb/ts:>7.2f} {diff:>11.1e}')

if __name__ == '__main__': main()
