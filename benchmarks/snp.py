"""Benchmark of genomenn.variants (SNP scoring and ISM at loci) against baselines measured in the same run.

    GENOMENN_SHARED=/path/to/shared python benchmarks/snp.py [--repeats 2]

* snp: the shared Borzoi-lite checkpoint (131,072 bp, 2,048 x 74 tracks), baskerville's 8 eQTL SNPs, the 47
  strand-merged targets, stats logSUM,logD2,SUM,D1: `score_vcf` (reference and alternative sequences of 8 variants
  batched through one compiled forward pass, batch 1, fastest on CPU) against a loop calling `SeqNN.predict` once per
  allele (hound_snp's pattern) followed by the same statistics. Model start-up excluded from both; variants per second.
* ism: a 2,048 bp synthetic-params model (16 targets), 4 loci, a 32 bp window (96 mutants each): `ism_scores`
  (every mutant's full tracks, 4 statistics) against `genomenn.ism` (summed predictions only, its fast engine),
  seconds per mutant.
"""
import argparse
import json
import os
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from pathlib import Path

import numpy as np

from genomenn.data import Genome
from genomenn.ism import ism
from genomenn.model import SeqNN, synthetic_params
from genomenn.variants import (
    AlleleModel,
    ism_scores,
    mut_window,
    read_vcf,
    score_vcf,
    snp_scores,
    untransform_preds,
    variant_1hot,
)

D = Path(os.environ.get('GENOMENN_SHARED', Path(__file__).resolve().parents[2]/'shared'))/'data'
STATS = ['logSUM', 'logD2', 'SUM', 'D1']


def bench_snp(repeats):
    m = AlleleModel.load(D/'params/baskerville__tests__data__eval__params.json',
                         D/'models/baskerville_eval/baskerville__tests__data__eval__model.h5',
                         D/"tfrecords/baskerville_tiny_hg38/targets.txt", batch_size=1)
    vcf, fa = D/'snp/baskerville__tests__data__snp__eqtl.vcf', D/'dna/hg38_1m.fa'
    g = Genome(fa); vs = list(read_vcf(vcf, g))
    m.preds(variant_1hot(vs[0], g, m.L)[0][None])               # warm up: trace once
    m.seqnn.predict(variant_1hot(vs[0], g, m.L)[0][None], batch_size=1)
    out = {'batched_s': [], 'loop_s': []}
    with tempfile.TemporaryDirectory() as t:
        for _ in range(repeats):
            t0 = time.perf_counter(); score_vcf(m, vcf, g, t, STATS, step=4, verbose=False)
            out['batched_s'].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for v in vs:                                                    # hound_snp's loop: one predict per allele
                r, a = variant_1hot(v, g, m.L)
                pr = m.seqnn.predict(r[None], batch_size=1)[..., m.cols]
                pa = m.seqnn.predict(a[None], batch_size=1)[..., m.cols]
                snp_scores(untransform_preds(pr, m.targets)[None], untransform_preds(pa, m.targets)[None], STATS,
                           m.merge)
            out['loop_s'].append(time.perf_counter() - t0)
    n = len(vs)
    out['variants_per_s'] = {k: [n / s for s in v] for k, v in out.items()}
    return out


def bench_ism(repeats):
    with tempfile.TemporaryDirectory() as t:
        import keras
        keras.utils.set_random_seed(0)
        p = Path(t)/'p.json'; p.write_text(json.dumps(synthetic_params(2048, num_targets=16, filters=32)))
        s = SeqNN(p)
        tg = Path(t)/'targets.txt'
        tg.write_text('\tidentifier\tclip_soft\tscale\tsum_stat\tdescription\n' +
                      ''.join(f'{i}\tt{i}\t384\t1.0\tsum\tt{i}\n' for i in range(16)))
        m = AlleleModel(s, str(tg), batch_size=32)
        rng = np.random.default_rng(0)
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (4, 2048))]
        a, n = mut_window(2048, 32)
        n_mut = 4 * n * 3
        ism_scores(m, X[:1], a, 4, STATS, verbose=False)                  # warm up
        ism(s, X[:1], window=(a, a + 4), verbose=False)
        out = {'ism_scores_s_per_mutant': [], 'genomenn_ism_s_per_mutant': []}
        for _ in range(repeats):
            t0 = time.perf_counter(); ism_scores(m, X, a, n, STATS, verbose=False)
            out['ism_scores_s_per_mutant'].append((time.perf_counter() - t0) / n_mut)
            t0 = time.perf_counter(); ism(s, X, window=(a, a + n), verbose=False)
            out['genomenn_ism_s_per_mutant'].append((time.perf_counter() - t0) / n_mut)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--sections', default='snp,ism')
    a = ap.parse_args()
    res = {}
    if 'snp' in a.sections: res['snp'] = bench_snp(a.repeats)
    if 'ism' in a.sections: res['ism'] = bench_ism(a.repeats)
    print(json.dumps(res, indent=1))
