"""One-hot coding: genomenn.data.dna_1hot (byte lookup table) vs a per-character loop in the style of
Basenji's dna_io.dna_1hot, and synthetic_dataset generation time. Prints medians and ratios.

Usage: python benchmarks/data_onehot.py [--length 1000000] [--repeats 5]
"""
import argparse

import numpy as np

from genomenn.data import dna_1hot
from genomenn.synthetic import synthetic_dataset

from timing import median_time


def loop_1hot(seq):
    "Baseline: a Python loop over characters filling a preallocated array (Basenji's approach)."
    seq = seq.upper()
    out = np.zeros((len(seq), 4), np.float32)
    for i, c in enumerate(seq):
        if c == 'A': out[i, 0] = 1
        elif c == 'C': out[i, 1] = 1
        elif c == 'G': out[i, 2] = 1
        elif c == 'T': out[i, 3] = 1
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--length', type=int, default=1_000_000)
    ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args()
    seq = ''.join(np.random.default_rng(0).choice(list('ACGTNacgt'), a.length))
    assert np.array_equal(dna_1hot(seq), loop_1hot(seq))
    t_new = median_time(lambda: dna_1hot(seq), a.repeats)
    t_loop = median_time(lambda: loop_1hot(seq), max(1, a.repeats // 2))
    print(f'one-hot {a.length:,} bp: dna_1hot {t_new*1e3:.1f} ms, per-character loop {t_loop*1e3:.0f} ms, '
          f'ratio loop/dna_1hot = {t_loop/t_new:.0f}x')
    t_syn = median_time(lambda: synthetic_dataset(4000, 1024, seed=0), a.repeats)
    print(f'synthetic_dataset(4000, 1024) (the default, 4.1 Mb): {t_syn:.2f} s')
