"""Variant effects: `genomenn snp` against hound_snp's own output, baskerville's flip and subset properties,
ISM at loci against single-variant runs, bad input, atomic writes and shards."""

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, shared_path
from helpers import file_modes, tiny_seqnn

from genomenn import variants as gv
from genomenn.data import Genome
from genomenn.variants import AlleleModel, ism_bed, ism_scores, ism_snp, mut_window, read_vcf, score_vcf, variant_1hot

TABLES = ['snp', 'chr', 'pos', 'ref_allele', 'alt_allele', 'target_ids', 'target_labels', 'percentiles']
EVAL = ('params/baskerville__tests__data__eval__params.json',
        'models/baskerville_eval/baskerville__tests__data__eval__model.h5')


def f16_close(ours, ref, axis):
    "Within one float16 step of the largest |ref| along `axis` (each target's scale): the file's own rounding."
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    scale = np.abs(ref).max(axis=axis, keepdims=True).astype(np.float16)
    return np.abs(ours - ref) <= np.spacing(scale).astype(float) + 1e-12


def test_reproduces_hound_snp(tmp_path):
    "genomenn snp on baskerville's eQTL VCF = hound_snp's scores.h5 (tables exact, scores to float16 rounding)."
    d = shared_path()
    r = run_cli('snp', d/EVAL[0], d/EVAL[1], d/'snp/baskerville__tests__data__snp__eqtl.vcf', '-f', d/'dna/hg38_1m.fa',
                '--stats', 'logSUM,logD2,SUM,D1', '-t', d/'tfrecords/baskerville_tiny_hg38/targets.txt', '-o', tmp_path,
                '-q', '--batch-size', '8')
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path/'scores.h5') as a, h5py.File(shared_path('reference/hound_snp_eqtl_scores.h5')) as b:
        assert sorted(a) == sorted(b)
        for k in TABLES:
            assert a[k].dtype == b[k].dtype and (a[k][()] == b[k][()]).all(), k
        for k in ['logSUM', 'logD2', 'SUM', 'D1']:
            assert a[k].shape == b[k].shape == (8, 47) and a[k].dtype == np.float16
            assert f16_close(a[k][()], b[k][()], 0).all(), k                    # per target
            assert f16_close(a[k + '_pct'][()], b[k + '_pct'][()], 1).all(), k  # per target row of percentiles


# ---- a tiny model on the real genome, for properties and bad input --------------------------------------------

TINY_TARGETS = pd.DataFrame({'identifier': ['A+', 'A-', 'U1', 'B+', 'B-', 'U2'], 'file': '.', 'clip': 384,
                             'clip_soft': [0.5, 0.5, 1, 64, 64, 0.2], 'scale': 1.0,
                             'sum_stat': ['sum_sqrt', 'sum_sqrt', 'sum', 'sum', 'sum', 'mean'],
                             'strand_pair': [1, 0, 2, 4, 3, 5], 'description': list('aabbbc')})


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    t = tiny_seqnn(tmp_path_factory.mktemp('tiny'), 512, num_targets=6, filters=16, seeds=(1,), name='model.weights.h5')
    TINY_TARGETS.to_csv(t/'targets.txt', sep='\t', index_label='')
    TINY_TARGETS.iloc[[3, 4, 5]].to_csv(t/'subset.txt', sep='\t', index_label='')   # index column keeps 3, 4, 5
    return t


def tiny_model(t, targets='targets.txt', **kw):
    return AlleleModel.load(t/'params.json', t/'model.weights.h5', t/targets, **kw)


def scores(path):
    with h5py.File(path) as h: return {k: h[k][()] for k in h}


def test_flip_and_subset(tiny, tmp_path):
    "baskerville's tests: the flipped VCF negates logSUM and keeps logD2; a subset targets.txt keeps its scores."
    fa, snp = shared_path('dna/hg38_1m.fa'), shared_path('snp')
    m = tiny_model(tiny, rc=True, shifts=(0, 1))
    stats = ['logSUM', 'logD2', 'SUM', 'D1', 'SAX', 'JS', 'REF']
    a = scores(score_vcf(m, snp/'baskerville__tests__data__snp__eqtl.vcf', fa, tmp_path/'a', stats, verbose=False))
    f = scores(score_vcf(m, snp/'baskerville__tests__data__snp__eqtl_flip.vcf', fa, tmp_path/'f', stats, verbose=False))
    assert (a['ref_allele'] == f['alt_allele']).all() and (a['alt_allele'] == f['ref_allele']).all()
    np.testing.assert_array_equal(f['logSUM'], -a['logSUM'])
    np.testing.assert_array_equal(f['SUM'], -a['SUM'])
    np.testing.assert_array_equal(f['logD2'], a['logD2'])
    np.testing.assert_array_equal(f['D1'], a['D1'])
    assert a['logSUM'].shape == (8, 4) and a['REF'].shape == (8, 2, 16, 4)
    assert [s.decode() for s in a['target_ids']] == ['A+', 'U1', 'B+', 'U2']
    s = scores(score_vcf(tiny_model(tiny, 'subset.txt', rc=True, shifts=(0, 1)),
                         snp/'baskerville__tests__data__snp__eqtl.vcf',
                         fa, tmp_path/'s', stats, verbose=False))
    assert [x.decode() for x in s['target_ids']] == ['B+', 'U2']
    for k in stats: np.testing.assert_allclose(s[k].astype(float), a[k][..., 2:].astype(float), rtol=1e-3, atol=1e-6)


def test_ism_matches_single_variant_runs(tiny, tmp_path):
    "ISM at loci = `score_vcf` of each substitution of the locus' variant base as its own VCF line (every statistic)."
    fa = shared_path('dna/hg38_1m.fa')
    m = tiny_model(tiny)
    a, n = mut_window(m.L, 4)                # the variant (index L//2 - 1) is window index n//2 - 1 = 1
    lines, where, X = [], [], []
    with Genome(fa) as g:
        for i, v in enumerate(read_vcf(shared_path('snp/baskerville__tests__data__snp__eqtl.vcf'), g)):
            X.append(variant_1hot(v, g, m.L)[0])
            for b, alt in enumerate('ACGT'):
                if alt != v.genome_base:
                    lines.append(f'chr1\t{v.pos}\tm{i}{alt}\t{v.genome_base}\t{alt}\n'); where.append((i, b))
    (tmp_path/'muts.vcf').write_text(''.join(lines))
    stats = ['SUM', 'logSUM', 'logSED', 'sqrtSUM', 'SAX', 'D1', 'logD1', 'sqrtD1', 'D2', 'logD2', 'sqrtD2', 'JS']
    one = scores(score_vcf(m, tmp_path/'muts.vcf', fa, tmp_path/'o', stats, verbose=False))
    ism = ism_scores(m, np.stack(X), a, n, stats, verbose=False)
    unstranded = [1, 3]                      # U1, U2: merging before or after scoring is the same
    for s in stats:
        got = np.array([ism[s][i, 1, b] for i, b in where], float)
        cols = slice(None) if s == 'SUM' else unstranded    # SUM is linear: strand merging commutes
        np.testing.assert_allclose(got[:, cols], one[s].astype(float)[:, cols], rtol=2e-3, atol=1e-6, err_msg=s)
    for i, x in enumerate(X):                # the sequence's own base scores 0
        assert (ism['SUM'][i][x[a:a + n] == 1] == 0).all()


def test_ism_snp_and_bed_files(tiny, tmp_path):
    "hound_ism_snp / hound_ism_bed layouts: (sequences x length x 4 x targets), labels and coordinates."
    fa, snp = shared_path('dna/hg38_1m.fa'), shared_path('snp')
    m = tiny_model(tiny)
    r = scores(ism_snp(m, snp/'baskerville__tests__data__ism__snp.vcf', fa, tmp_path/'s', ['logSUM', 'D1'], mut_len=3,
                       verbose=False))
    assert r['logSUM'].shape == (2, 3, 4, 4) and r['seqs'].shape == (2, 3, 4) and r['seqs'].dtype == bool
    assert [x.decode() for x in r['label']] == ['chr1_14677_G_A_b38_G', 'chr1_14677_G_A_b38_A']
    b = scores(ism_bed(m, snp/'baskerville__tests__data__ism__seqs.bed', fa, tmp_path/'b', ['SUM'], mut_len=2,
                       verbose=False))
    assert b['SUM'].shape == (2, 2, 4, 4) and list(b['end'] - b['start']) == [2, 2]
    assert (b['SUM'][b['seqs']] == 0).all() and (b['SUM'][~b['seqs']] != 0).any()


def test_bad_input(tiny, tmp_path, capsys):
    "Mismatching alleles are reported per variant and left out; other bad lines stop with the line number."
    fa = shared_path('dna/hg38_1m.fa')
    m = tiny_model(tiny)
    good = 'chr1\t54490\tok1\tG\tA\n'
    (tmp_path/'mis.vcf').write_text('##fileformat=VCFv4.2\n' + good + 'chr1\t63671\tbad\tC\tT\n'
                                    + 'chr1\t14677\tok2\tG\tA\n')
    s = scores(score_vcf(m, tmp_path/'mis.vcf', fa, tmp_path/'m', ['SUM'], verbose=False))
    assert [x.decode() for x in s['snp']] == ['ok1', 'ok2']
    err = capsys.readouterr().err
    assert 'mis.vcf:3: bad: skipped: reference allele C does not match the genome' in err
    cases = {'chrom.vcf': ('chrZ\t10\tz\tA\tC\n', "chrom.vcf:2: z: chromosome 'chrZ' is not in hg38_1m.fa"),
             'multi.vcf': ('chr1\t54490\tmb\tGA\tG\n', 'multi.vcf:2: mb: multi-base alleles GA/G'),
             'short.vcf': ('chr1\t54490\tG\n', 'short.vcf:2: expected at least 5 tab-separated fields'),
             'pos.vcf': ('chr1\tx54490\tp\tG\tA\n', "pos.vcf:2: POS must be an integer, got 'x54490'")}
    for name, (line, msg) in cases.items():
        (tmp_path/name).write_text(good + line)
        with pytest.raises(gv.VCFError, match=msg):
            score_vcf(m, tmp_path/name, fa, tmp_path/name[:-4], ['SUM'], verbose=False)
        assert not list((tmp_path/name[:-4]).glob('*scores.h5*'))


def test_crash_leaves_no_partial_file(tiny, tmp_path, monkeypatch):
    "A failure half-way leaves neither scores.h5 nor its temporary file; an earlier scores.h5 is kept."
    fa, vcf = shared_path('dna/hg38_1m.fa'), shared_path('snp/baskerville__tests__data__snp__eqtl.vcf')
    m = tiny_model(tiny)
    (tmp_path/'scores.h5').write_bytes(b'old')
    calls = {'n': 0}
    real = AlleleModel.preds
    def flaky(self, seqs):
        calls['n'] += 1
        if calls['n'] == 2: raise RuntimeError('boom')
        return real(self, seqs)
    monkeypatch.setattr(AlleleModel, 'preds', flaky)
    with pytest.raises(RuntimeError, match='boom'): score_vcf(m, vcf, fa, tmp_path, ['SUM'], step=2, verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['scores.h5'] and (tmp_path/'scores.h5').read_bytes() == b'old'


def test_scores_h5_gets_the_umask_mode(tiny, tmp_path, umask027):
    "scores.h5 gets the umask's permissions (not mkstemp's 0600); no temporary file is left."
    fa, vcf = shared_path('dna/hg38_1m.fa'), shared_path('snp/baskerville__tests__data__snp__eqtl.vcf')
    score_vcf(tiny_model(tiny), vcf, fa, tmp_path, ['SUM'], verbose=False)
    assert file_modes(tmp_path) == {'scores.h5': 0o640}


def test_processes_shards_merge(tiny, tmp_path):
    "`genomenn snp --processes 2`: two shard processes merged = one run."
    fa, vcf = shared_path('dna/hg38_1m.fa'), shared_path('snp/baskerville__tests__data__snp__eqtl.vcf')
    args = [tiny/'params.json', tiny/'model.weights.h5', vcf, '-f', fa, '-t', tiny/'targets.txt', '--stats',
            'logSUM,D1', '-q']
    r = run_cli('snp', *args, '-o', tmp_path/'par', '--processes', '2')
    assert r.returncode == 0, r.stderr
    one = scores(score_vcf(tiny_model(tiny), vcf, fa, tmp_path/'one', ['logSUM', 'D1'], verbose=False))
    par = scores(tmp_path/'par'/'scores.h5')
    assert sorted(one) == sorted(par)
    for k in one:
        if one[k].dtype.kind == 'f':
            np.testing.assert_allclose(par[k].astype(float), one[k].astype(float), rtol=1e-3, atol=1e-6)
        else: np.testing.assert_array_equal(par[k], one[k])
    r = run_cli('snp', *args[:2], tiny/'none.vcf', *args[3:], '-o', tmp_path/'x')
    assert r.returncode == 2 and 'no such file' in r.stderr
