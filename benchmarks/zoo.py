"""Benchmark of a real Basenji-family model: baskerville's trained Borzoi-lite checkpoint on 131,072 bp windows.

    python benchmarks/zoo.py [--reps 3] [--seqs 2] [--json out.json]

Needs ../shared/data (or $GENOMENN_SHARED/data): params/baskerville__tests__data__eval__params.json,
models/baskerville_eval/ (the checkpoint) and dna/hg38_1m.fa.

* predict: time per sequence of `SeqNN.predict` (batch 2), plain and as the rc + shifts (-1, 0, 1) ensemble with strand
  pairs (6 members), against the plain Keras forward pass of the same batch (the baseline).
* gradients: all 74 targets' input gradients of one sequence with `genomenn.gradients` (one forward pass on a
  persistent tape, 74 input-only backward passes), in forward passes per target-gradient; against a Basenji-style
  loop (one tape and forward pass per target) on 8 targets, same run. The same two measurements on the Borzoi-lite
  trunk without its transformer tower (conv + U-net only, same weights elsewhere) show what attention does to the
  cost of a backward pass.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf

from genomenn.data import Genome, dna_1hot, read_targets
from genomenn.gradients import gradients
from genomenn.model import SeqNN

from timing import best

SHARED = Path(os.environ.get('GENOMENN_SHARED', Path(__file__).resolve().parents[2] / 'shared')) / 'data'
PARAMS = SHARED / 'params' / 'baskerville__tests__data__eval__params.json'
MODEL = SHARED / 'models' / 'baskerville_eval' / 'baskerville__tests__data__eval__model.h5'


def windows(n, L=131072):
    "n one-hot windows of chr1 of hg38_1m.fa (those of baskerville_reference.npz first)."
    starts = [100000, 300000, 500000, 700000, 800000, 860000][:n]
    with Genome(SHARED / 'dna' / 'hg38_1m.fa') as g:
        return dna_1hot([g.fetch('chr1', s, s + L) for s in starts]).astype('float32')


def basenji_style(model, X, targets):
    "Baseline: one tape and one forward pass per target, summed over positions (what Basenji's loop costs)."
    xt = tf.constant(X)
    for t in targets:
        with tf.GradientTape() as tape:
            tape.watch(xt)
            obj = tf.reduce_sum(model(xt, training=False)[:, :, t])
        tape.gradient(obj, xt).numpy()


def section_predict(s, X, pair, reps):
    fwd = tf.function(lambda x: s.model(x, training=False))
    xt = tf.constant(X[:2]); fwd(xt)
    s.predict(X, batch_size=2); s.predict(X, rc=True, shifts=(-1, 0, 1), strand_pair=pair, batch_size=2)
    t_fwd = best(lambda: fwd(xt).numpy(), reps) / 2
    t_plain = best(lambda: s.predict(X, batch_size=2), reps) / len(X)
    t_ens = best(lambda: s.predict(X, rc=True, shifts=(-1, 0, 1), strand_pair=pair, batch_size=2), reps) / len(X)
    print(f"predict: forward pass {t_fwd:.3f} s/seq | SeqNN.predict {t_plain:.3f} s/seq "
          f"({t_plain/t_fwd:.2f}x the forward "
          f"pass) | rc + 3 shifts ensemble {t_ens:.3f} s/seq ({t_ens/t_fwd/6:.2f} forward passes per member)")
    return dict(forward_s_per_seq=t_fwd, predict_s_per_seq=t_plain, ensemble_s_per_seq=t_ens,
                ensemble_fwd_per_member=t_ens / t_fwd / 6)


def section_gradients(label, seqnn, X, T, reps, n_base=8):
    model = seqnn.model
    fwd = tf.function(lambda x: model(x, training=False))
    xt = tf.constant(X[:1]); fwd(xt)
    t0 = time.perf_counter(); gradients(model, X[:1], batch_size=1, verbose=False); first = time.perf_counter() - t0
    t_fwd = best(lambda: fwd(xt).numpy(), 3 * reps)
    t_g = best(lambda: gradients(model, X[:1], batch_size=1, verbose=False), reps)
    basenji_style(model, X[:1], [0])
    t_b = best(lambda: basenji_style(model, X[:1], range(n_base)), max(1, reps - 1))
    g_cost, b_cost = t_g / T / t_fwd, t_b / n_base / t_fwd
    print(f"{label}: forward {t_fwd:.3f} s | all {T} targets' input gradients {t_g:.1f} s (first call {first:.1f} s) = "
          f"{g_cost:.2f} forward passes per target-gradient | Basenji-style loop {b_cost:.2f} | speed-up "
          f"{b_cost/g_cost:.1f}x")
    return dict(forward_s=t_fwd, gradients_s=t_g, first_call_s=first, fwd_per_target_gradient=g_cost,
                basenji_style_fwd_per_target_gradient=b_cost, speedup=b_cost / g_cost)


def without_transformer():
    "SeqNN of the eval params without its transformer tower, with the checkpoint's weights for every other layer."
    p = json.loads(PARAMS.read_text())
    p['model']['trunk'] = [b for b in p['model']['trunk'] if b['name'] != 'transformer_tower']
    full, s = SeqNN(PARAMS).restore(MODEL), SeqNN(p)
    src = [l for l in full.models[0].layers if l.weights and 'MultiheadAttention' not in type(l).__name__
           and not l.name.startswith('trunk2_')]                    # trunk2 = the transformer tower
    dst = [l for l in s.models[0].layers if l.weights]
    for a, b in zip(src, dst): b.set_weights(a.get_weights())
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=3); ap.add_argument('--seqs', type=int, default=4)
    ap.add_argument('--json', help='write the figures here')
    a = ap.parse_args()
    if not MODEL.exists(): sys.exit(f"shared data not found: {MODEL}")
    s = SeqNN(PARAMS).restore(MODEL)
    pair = read_targets(SHARED / 'tfrecords' / 'baskerville_tiny_hg38' / 'targets.txt')
    X = windows(a.seqs)
    res = {'predict': section_predict(s, X, pair, a.reps)}
    res['gradients'] = section_gradients('Borzoi-lite', s, X, 74, a.reps)
    res['gradients_no_attention'] = section_gradients('without the transformer tower', without_transformer(), X, 74,
                                                      a.reps)
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == '__main__': main()
