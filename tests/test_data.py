"""genomenn.data: one-hot coding, FASTA/BED on real files, Basenji TFRecords of both layouts, synthetic data."""
import gzip
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_path
from helpers import file_modes
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from genomenn.data import *
from genomenn.synthetic import MOTIFS, synthetic_dataset
from genomenn.tfrecords import SeqDataset, write_tfrecords

COMP = {'A': 'T', 'C': 'G', 'G': 'C', 'T': 'A', 'N': 'N'}
def ref_rc(s): return ''.join(COMP[c] for c in reversed(s.upper()))
def ref_1hot(s, n_val=0.):
    "Per-character float64 reference."
    out = np.zeros((len(s), 4))
    for i, c in enumerate(s.upper()):
        if c == 'N': out[i] = n_val
        else: out[i, 'ACGT'.index(c)] = 1
    return out

dna_text = st.text(alphabet='ACGTNacgtn', min_size=1, max_size=200)

# ---------------------------------------------------------------- one-hot
@settings(max_examples=60, deadline=None)
@given(dna_text, st.booleans())
def test_1hot_matches_reference_and_round_trips(s, n_uniform):
    x = dna_1hot(s, n_uniform=n_uniform)
    assert x.dtype == np.float32 and x.shape == (len(s), 4)
    np.testing.assert_array_equal(x, ref_1hot(s, 0.25 if n_uniform else 0.))
    assert hot1_dna(x) == s.upper()
    np.testing.assert_array_equal(dna_codes(s), ['ACGTN'.index(c) for c in s.upper()])

@settings(max_examples=60, deadline=None)
@given(dna_text, st.integers(-250, 250), st.booleans())
def test_rc_and_augment_against_string_reference(s, shift, fwdrc):
    L = len(s); shift = max(-L, min(L, shift)); u = s.upper()
    x = dna_1hot(s)
    assert hot1_dna(hot1_rc(x)) == ref_rc(s) == dna_rc(s).upper()
    np.testing.assert_array_equal(hot1_rc(hot1_rc(x)), x)
    shifted = 'N'*shift + u[:L-shift] if shift >= 0 else u[-shift:] + 'N'*(-shift)
    want = shifted if fwdrc else ref_rc(shifted)
    y = hot1_augment(x, fwdrc, shift)
    assert hot1_dna(y) == want and y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, ref_1hot(want))     # padding is all-zero N rows
    padded = 'P'*shift + u[:L-shift] if shift >= 0 else u[-shift:] + 'P'*(-shift)
    padded = padded if fwdrc else padded[::-1]          # padding rows only move under rc
    want_u = ref_1hot(want.replace('N', 'A'))           # rows filled in below
    want_u[np.array([c == 'N' for c in want])] = 0
    want_u[np.array([c == 'P' for c in padded], bool)] = 0.25
    np.testing.assert_array_equal(hot1_augment(x, fwdrc, shift, n_uniform=True), want_u)

def test_augment_batch_equals_per_sequence_and_pad_value():
    rng = np.random.default_rng(0)
    X = codes_1hot(rng.integers(0, 4, (5, 50)))
    for fwdrc in (True, False):
        for shift in (-7, -1, 0, 3, 50):
            np.testing.assert_array_equal(hot1_augment(X, fwdrc, shift),
                                          np.stack([hot1_augment(x, fwdrc, shift) for x in X]))
    y = hot1_augment(X, True, 3)
    assert (y[:, :3] == 0).all() and (y[:, 3:] == X[:, :-3]).all()
    y = hot1_augment(X, False, 3)        # shift first, then rc: the padding ends up on the right
    assert (y[:, -3:] == 0).all()
    np.testing.assert_array_equal(y, hot1_augment(hot1_rc(X), True, -3))
    assert (hot1_augment(X, True, -2, n_uniform=True)[:, -2:] == 0.25).all()
    assert hot1_augment(X.astype(bool), True, 2).dtype == bool

def test_bad_alphabet_and_shapes():
    with pytest.raises(ValueError, match=r"invalid character 'X' at position 7"):
        dna_1hot('ACGTACGXAC')
    with pytest.raises(ValueError, match=r"invalid character '-' at position 2 \(and 1 more\)"):
        dna_1hot('AC-T-')
    with pytest.raises(ValueError, match=r"seq\[1\]: invalid character 'R' at position 0"):
        dna_1hot(['ACGT', 'RCGT'])
    with pytest.raises(ValueError, match=r"invalid character 'ñ' at position 3"):
        dna_1hot('ACGñ')
    with pytest.raises(ValueError, match=r'equal length, got lengths \[2, 3\]'):
        dna_1hot(['ACG', 'AC'])
    with pytest.raises(ValueError, match=r'seq_1hot: expected one-hot \(L, 4\) or \(S, L, 4\), got shape \(7, 5\)'):
        hot1_rc(np.zeros((7, 5)))
    with pytest.raises(ValueError, match=r'got shape \(2, 3, 7, 4\)'):
        hot1_augment(np.zeros((2, 3, 7, 4)), True, 0)
    with pytest.raises(ValueError, match=r'shift: expected \|shift\| <= L=4, got -5'):
        hot1_augment(dna_1hot('ACGT'), True, -5)
    with pytest.raises(ValueError, match=r'codes: expected values 0-4'):
        codes_1hot(np.array([0, 5]))

def test_hot1_dna_batch_and_soft_rows():
    x = np.array([[0.7, 0.1, 0.1, 0.1], [0, 0, 0, 0], [0.25]*4, [0, 0, 0.2, 0.1]], np.float32)
    assert hot1_dna(x) == 'ANNG'
    assert hot1_dna(dna_1hot(['ACGN', 'TTTT'])) == ['ACGN', 'TTTT']

# ---------------------------------------------------------------- FASTA on the real files
def _snapshot(d): return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in Path(d).iterdir())

@pytest.fixture
def dna_dir(tmp_path, monkeypatch):
    "The shared dna/ folder; the test fails if anything in it is created or changed. The default cache goes to tmp."
    d = shared_path('dna')
    monkeypatch.setenv('GENOMENN_CACHE_DIR', str(tmp_path/'cache'))
    before = _snapshot(d)
    yield d
    assert _snapshot(d) == before, 'files were written into the shared dna/ folder'

def _ref_fasta(path):
    "Independent reader: Biopython, whole file into memory."
    from Bio import SeqIO
    op = gzip.open if str(path).endswith('.gz') else open
    with op(path, 'rt') as f: return {r.id: str(r.seq) for r in SeqIO.parse(f, 'fasta')}

def _runs(s, ch='N'):
    a = np.frombuffer(s.encode(), np.uint8) == ord(ch)
    d = np.diff(np.r_[0, a.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))

def test_gata4_counts(dna_dir, tmp_path):
    with Genome(dna_dir/'gata4.fa') as g:
        assert g.names == ['chr8:11496144-11627216'] and g.chrom_sizes[g.names[0]] == 131072
        s = g.fetch(g.names[0], 0, 131072)
    assert {c: s.count(c) for c in 'ACGTN'} == {'A': 34957, 'C': 30460, 'G': 31491, 'T': 34164, 'N': 0}
    np.testing.assert_array_equal(dna_1hot(s).sum(0), [34957, 30460, 31491, 34164])
    assert s == _ref_fasta(dna_dir/'gata4.fa')['chr8:11496144-11627216']
    assert list((tmp_path/'cache'/'fai').glob('*/gata4.fa.fai')), 'index not built in the cache'

def test_hg38_n_runs_and_bases(dna_dir):
    with Genome(dna_dir/'hg38_1m.fa') as g:
        assert g.chrom_sizes == {'chr1': 1_000_000}
        s = g.fetch('chr1', 0, 1_000_000)
        assert g['chr1'][487600] == 'G' and g['chr1'][959300] == 'T'
        assert g.fetch('chr1', 487600, 487601) == 'G'
    assert _runs(s) == [(0, 10000), (207666, 257666), (297968, 347968), (535988, 585988)]
    assert {c: s.count(c) for c in 'ACGTN'} == {'A': 239437, 'C': 193030, 'G': 190464, 'T': 217069, 'N': 160000}
    assert s == _ref_fasta(dna_dir/'hg38_1m.fa')['chr1']
    fa = fasta_open(dna_dir/'hg38_1m.fa')            # plain pyfaidx object, index from the cache
    assert str(fa['chr1'][959300]) == 'T' and len(fa['chr1']) == 1_000_000
    fa.close()

def test_bgzf_equals_plain(dna_dir, tmp_path):
    assert fasta_compression(dna_dir/'hg38_1m.fa.gz') == 'bgzf' and fasta_compression(dna_dir/'hg38_1m.fa') == ''
    with Genome(dna_dir/'hg38_1m.fa.gz', cache_dir=tmp_path/'c') as gz, Genome(dna_dir/'hg38_1m.fa') as pl:
        assert gz.compression == 'bgzf' and gz.fasta is not None     # indexed, not read into memory
        assert gz.fetch('chr1', 0, 1_000_000) == pl.fetch('chr1', 0, 1_000_000)
        rng = np.random.default_rng(0)
        for s in rng.integers(-500, 1_000_500, 20):
            assert gz.fetch('chr1', s, s + 777) == pl.fetch('chr1', s, s + 777)
    assert sorted(p.suffix for p in (tmp_path/'c'/'fai').glob('*/*')) == ['.fai', '.gzi']
    with Genome(dna_dir/'hg38_1m.fa.gz', cache_dir=tmp_path/'c') as again:   # cached index reused
        assert again['chr1'][487600] == 'G'

def test_cache_fallback_and_plain_gzip(tmp_path, monkeypatch):
    src = tmp_path/'x.fa'; src.write_text('>s1\nACGTNNacgt\n>s2 other words\nGGCC\n')
    blocker = tmp_path/'afile'; blocker.write_text('')       # a cache "folder" that cannot be created
    monkeypatch.setattr('tempfile.tempdir', str(tmp_path/'tmpdir')); (tmp_path/'tmpdir').mkdir()
    with Genome(src, cache_dir=blocker/'sub') as g:
        assert g.fetch('s1', -2, 12) == 'NNACGTNNACGTNN' and g.fetch('s2', 0, 4) == 'GGCC'
    assert list((tmp_path/'tmpdir').rglob('x.fa.fai'))
    assert sorted(os.listdir(tmp_path)) == ['afile', 'tmpdir', 'x.fa']
    gz = tmp_path/'y.fa.gz'
    with gzip.open(gz, 'wt') as f: f.write(src.read_text())
    assert fasta_compression(gz) == 'gzip'
    with Genome(gz) as g:
        assert g.fasta is None and g.fetch('s1', 8, 12) == 'GTNN'
    with pytest.raises(ValueError, match='gzip-compressed but not BGZF'):
        fasta_open(gz)
    with pytest.raises(FileNotFoundError, match='no such file'):
        Genome(tmp_path/'missing.fa')

def test_read_only_mount(tmp_path):
    "A real read-only file system (bind mount in a private mount namespace); skipped where that is not allowed."
    import subprocess
    import sys
    import textwrap
    ro = tmp_path/'ro'; ro.mkdir()
    (ro/'g.fa').write_text('>c1\nACGTACGTNN\nGG\n')
    with gzip.open(ro/'p.fa.gz', 'wt') as f: f.write('>c1\nACGT\n')
    code = textwrap.dedent(f"""
        import pyfaidx
        from genomenn.data import Genome
        try: pyfaidx.Fasta('{ro}/g.fa'); print('pyfaidx wrote an index')
        except OSError: print('pyfaidx failed')
        print(Genome('{ro}/g.fa').fetch('c1', -1, 13), Genome('{ro}/p.fa.gz').fetch('c1', 2, 6))
    """)
    script = (f"mount --bind {ro} {ro} && mount -o remount,ro,bind {ro} && "
              f"if touch {ro}/probe 2>/dev/null; then exit 77; fi && exec {sys.executable} -c \"$0\"")
    env = {**os.environ, 'GENOMENN_CACHE_DIR': str(tmp_path/'cache')}
    try:
        r = subprocess.run(['unshare', '-m', 'sh', '-c', script, code], capture_output=True, text=True, env=env,
                           timeout=120)
    except FileNotFoundError: pytest.skip('unshare not available')
    if r.returncode != 0 and 'pyfaidx' not in r.stdout:
        pytest.skip(f'cannot make a read-only mount here (exit {r.returncode}): {r.stderr.strip()[:200]}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.split('\n')[:2] == ['pyfaidx failed', 'NACGTACGTNNGGN GTNN']
    assert sorted(os.listdir(ro)) == ['g.fa', 'p.fa.gz']

def test_bed_seqs_padding_and_strand(dna_dir, tmp_path):
    ref = _ref_fasta(dna_dir/'hg38_1m.fa')['chr1']
    bed = tmp_path/'r.bed'
    bed.write_text('# comment\nchr1\t999900\t1000000\tend\t0\t+\n'
                   'chr1\t487500\t487700\tmid\t0\t-\n'
                   'chr1\t400\t500\tstart\t0\t+\n')
    bs = bed_seqs(dna_dir/'hg38_1m.fa', bed, 1000, stranded=True)
    assert [len(d) for d in bs.dna] == [1000]*3
    assert bs.dna[0] == ref[999450:] + 'N'*450
    assert bs.dna[1] == ref_rc(ref[487100:488100])
    assert bs.dna[2] == 'N'*1000                      # inside the leading N run, and past the start
    assert bs.coords[['start', 'end']].values.tolist() == [[999450, 1000450], [487100, 488100], [-50, 950]]
    unstranded = bed_seqs(dna_dir/'hg38_1m.fa.gz', bed, 1000)
    assert unstranded.dna[1] == ref[487100:488100] and unstranded.dna[0] == bs.dna[0]
    oh = bs.one_hot()
    assert oh.shape == (3, 1000, 4) and (oh[0, 550:] == 0).all() and (oh[0, :550].sum(-1) == 1).all()
    asis = bed_seqs(dna_dir/'hg38_1m.fa', [('chr1', 487600, 487605)], None)
    assert asis.dna == [ref[487600:487605]] and asis.dna[0][0] == 'G'

def test_bed_errors(dna_dir, tmp_path):
    with pytest.raises(ValueError, match=r"'chr8' is not in gata4.fa \(it has 1: chr8:11496144-11627216\)"):
        bed_seqs(dna_dir/'gata4.fa', dna_dir/'gata4.bed', 1000)
    bad = tmp_path/'bad.bed'; bad.write_text('chr1\t10\t5\n')
    with pytest.raises(ValueError, match=r'bad.bed:1: expected 0 <= start <= end, got 10, 5'):
        bed_seqs(dna_dir/'hg38_1m.fa', bad, 100)
    bad.write_text('chr1\t10\n')
    with pytest.raises(ValueError, match=r'bad.bed:1: expected at least 3 columns'):
        read_bed(bad)
    with pytest.raises(ValueError, match=r'seq_length: expected None or an integer >= 1, got 0'):
        bed_seqs(dna_dir/'hg38_1m.fa', [('chr1', 0, 10)], 0)
    regions = read_bed(dna_dir/'gata4.bed')
    assert regions[['chrom', 'start', 'end']].values.tolist() == [['chr8', 11496144, 11627216]]

# ---------------------------------------------------------------- TFRecords on the real files
def _raw_examples(path):
    import tensorflow as tf
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path), 'ZLIB')]

def test_baskerville_tiny_all_splits():
    d = shared_path('tfrecords', 'baskerville_tiny_hg38')
    stats = json.loads((d/'statistics.json').read_text())
    for split in ('train', 'valid', 'test'):
        sd = SeqDataset(d, split, batch_size=4)
        assert sd.layout == ('codes', 'float16') and sd.num_seqs == stats[f'{split}_seqs']
        assert (sd.seq_length, sd.target_length, sd.num_targets) == (131072, 2048, 74)
        seqs, tgts = sd.numpy()
        assert seqs.shape == (stats[f'{split}_seqs'], 131072, 4) and tgts.shape == (stats[f'{split}_seqs'], 2048, 74)
        assert seqs.dtype == tgts.dtype == np.float32
        # independent decode of the raw records
        raw = [ex for f in sd.files for ex in _raw_examples(f)]
        codes = np.stack([np.frombuffer(ex.features.feature['sequence'].bytes_list.value[0], np.uint8) for ex in raw])
        t16 = np.stack([np.frombuffer(ex.features.feature['target'].bytes_list.value[0], np.float16).reshape(2048, 74)
                        for ex in raw])
        np.testing.assert_array_equal(seqs.sum(1), np.stack([np.bincount(c, minlength=5)[:4] for c in codes]))
        np.testing.assert_array_equal(seqs.argmax(-1)[codes < 4], codes[codes < 4])
        np.testing.assert_array_equal(tgts, t16.astype(np.float32))
        assert np.isfinite(tgts).all() and tgts.min() >= 0
    sd = SeqDataset(d, 'train', batch_size=4)
    assert [f.name for f in sd.files] == ['train-0.tfr', 'train-9.tfr', 'train-11.tfr']
    assert [n for n in sd.check().values()] == [4, 4, 1]
    assert [int(b[0].shape[0]) for b in sd.dataset] == [4, 4, 1]
    seqs = sd.numpy(return_outputs=False)
    rec = seqs[4 + 3]                                           # train-9.tfr record 3
    assert (rec[31768:32768] == 0).all()
    rows = rec.sum(-1); rows[31768:32768] = 1
    assert (rows == 1).all()
    other = np.delete(seqs, 7, axis=0)
    assert (other.sum(-1) == 1).all()                           # no other record has N
    assert sd.target_info is not None and len(sd.target_info) == 74

def test_baskerville_shuffle_pattern_and_element_spec():
    d = shared_path('tfrecords', 'baskerville_tiny_hg38')
    ref = SeqDataset(d, 'train').numpy(return_inputs=False).sum((1, 2))
    a = [b[1].numpy().sum((1, 2)) for b in SeqDataset(d, 'train', batch_size=3, shuffle_buffer=9, seed=7).dataset]
    b = [b[1].numpy().sum((1, 2)) for b in SeqDataset(d, 'train', batch_size=3, shuffle_buffer=9, seed=7).dataset]
    np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
    np.testing.assert_allclose(np.sort(np.concatenate(a)), np.sort(ref), rtol=1e-6)
    sd = SeqDataset(d, 'train', tfr_pattern='train-9.tfr')
    assert sd.num_seqs == 9 and [f.name for f in sd.files] == ['train-9.tfr']
    assert sum(sd.check(strict=False).values()) == 4
    spec = SeqDataset(d, 'valid', batch_size=2).dataset.element_spec
    assert tuple(spec[0].shape) == (None, 131072, 4) and tuple(spec[1].shape) == (None, 2048, 74)

def test_basenji_cage10_old_layout():
    d = shared_path('tfrecords', 'basenji_cage10')
    sd = SeqDataset(d, 'train', batch_size=4)
    assert sd.layout == ('onehot', 'float_list') and sd.num_seqs == 10
    assert [f.name for f in sd.files] == ['cage10-train-00000-of-00100.tfrecord']
    seqs, tgts = sd.numpy()
    assert seqs.shape == (10, 262144, 4) and tgts.shape == (10, 2048, 10)
    np.testing.assert_array_equal(seqs.sum((0, 1)), [776674, 526579, 534355, 783832])
    assert (seqs.sum(-1) == 1).all()
    assert tgts.max() == 100.0 and tgts.min() == 0.
    ex = _raw_examples(sd.files[0])[2]
    np.testing.assert_array_equal(tgts[2], np.array(ex.features.feature['target'].float_list.value,
                                                    np.float32).reshape(2048, 10))
    np.testing.assert_allclose(tgts.mean(), 0.172, atol=5e-4)
    with pytest.raises(FileNotFoundError, match="no TFRecord files for split 'valid'"):
        SeqDataset(d, 'valid')

def test_missing_statistics_and_bad_statistics(tmp_path):
    d = shared_path('tfrecords', 'baskerville_tiny_hg38')
    (tmp_path/'tfrecords').mkdir()
    shutil.copy(d/'tfrecords'/'valid-2.tfr', tmp_path/'tfrecords')
    with pytest.raises(ValueError, match=r'statistics.json is missing') as e:
        SeqDataset(tmp_path, 'valid')
    assert isinstance(e.value, FileNotFoundError)
    stats = json.loads((d/'statistics.json').read_text())
    (tmp_path/'statistics.json').write_text(json.dumps({**stats, 'num_targets': 73}))
    with pytest.raises(ValueError,
                       match=r"valid-2.tfr: 'target' has 303104 bytes; statistics.json implies 299008 \(float16\)"):
        SeqDataset(tmp_path, 'valid')
    (tmp_path/'statistics.json').write_text(json.dumps({**stats, 'seq_length': 1000}))
    with pytest.raises(ValueError, match=r"'sequence' has 131072 bytes; statistics.json \(seq_length=1000\)"):
        SeqDataset(tmp_path, 'valid')
    (tmp_path/'statistics.json').write_text(json.dumps({k: v for k, v in stats.items() if k != 'target_length'}))
    with pytest.raises(ValueError, match=r"key 'target_length': expected an integer >= 1, got None"):
        SeqDataset(tmp_path, 'valid')

def test_truncated_tfrecord(tmp_path):
    src = shared_path('tfrecords', 'baskerville_tiny_hg38')
    d = tmp_path/'tiny'; (d/'tfrecords').mkdir(parents=True)
    shutil.copy(src/'statistics.json', d)
    for f in ('train-0.tfr', 'train-9.tfr', 'train-11.tfr'): shutil.copy(src/'tfrecords'/f, d/'tfrecords')
    raw = (d/'tfrecords'/'train-9.tfr').read_bytes()
    (d/'tfrecords'/'train-9.tfr').write_bytes(raw[:int(len(raw)*0.6)])
    sd = SeqDataset(d, 'train')                                   # first record still readable
    with pytest.raises(ValueError, match=r'train-9.tfr: damaged TFRecord file \(truncated or corrupt\)'):
        sd.numpy()
    with pytest.raises(ValueError, match=r'train-9.tfr: damaged TFRecord'):
        sd.check()
    (d/'tfrecords'/'train-9.tfr').write_bytes(raw[:5000])         # not even one record
    with pytest.raises(ValueError, match=r'train-9.tfr: cannot read the first record'):
        SeqDataset(d, 'train')

# ---------------------------------------------------------------- synthetic data
def test_synthetic_determinism_and_shapes():
    a, b = synthetic_dataset(200, 1024, seed=5), synthetic_dataset(200, 1024, seed=5)
    for f in ('seqs', 'targets', 'rates'): np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    pd.testing.assert_frame_equal(a.sites, b.sites); pd.testing.assert_frame_equal(a.pairs, b.pairs)
    c = synthetic_dataset(200, 1024, seed=6)
    assert not np.array_equal(a.seqs, c.seqs) and not a.sites.equals(c.sites)
    assert a.seqs.shape == (200, 1024, 4) and a.targets.shape == (200, 32, 6) and a.seqs.dtype == np.float32
    assert (a.seqs.sum(-1) == 1).all()
    d = synthetic_dataset(50, 2048, pool_width=64, seed=1)
    assert d.targets.shape == (50, 32, 6) and d.pool_width == 64
    assert set(a.sites.motif) == set(MOTIFS) and set(a.sites.strand) == {'+', '-'}
    assert a.target_names[3] == 'GATA_AP1_pair' and a.motif_driven.tolist() == [True]*5 + [False]
    with pytest.raises(ValueError, match=r'seq_length: expected a multiple of pool_width=32, got 1000'):
        synthetic_dataset(10, 1000)
    with pytest.raises(ValueError, match=r'n: expected an integer >= 1, got 0'):
        synthetic_dataset(0)

def test_synthetic_ground_truth_is_exact():
    s = synthetic_dataset(300, 1024, seed=11)
    dna = hot1_dna(s.seqs)
    for r in s.sites.itertuples():
        want = MOTIFS[r.motif] if r.strand == '+' else ref_rc(MOTIFS[r.motif])
        assert dna[r.seq][r.start:r.end] == want == r.site
    # no occurrence of any motif, either strand, other than the listed ones
    found = sorted((i, m.start(), name) for i, q in enumerate(dna) for name, mo in MOTIFS.items()
                   for w in {mo, ref_rc(mo)} for m in re.finditer(f'(?={w})', q))
    assert found == sorted(zip(s.sites.seq, s.sites.start, s.sites.motif))
    planted = s.sites[s.sites.pair >= 0].groupby('pair')
    assert all(sorted(g.motif) == ['AP1', 'GATA'] for _, g in planted)

def test_synthetic_rates_are_the_stated_function():
    s = synthetic_dataset(120, 1024, seed=2, noise=False)
    np.testing.assert_array_equal(s.targets, s.rates)
    sig, pw, P = 32., 32, 32
    edges = np.arange(P + 1)*pw
    def bump(x): return np.diff(norm.cdf((edges - x)/sig))*sig*np.sqrt(2*np.pi)/pw
    D = {m: np.zeros((120, P)) for m in ('GATA', 'AP1', 'CTCF', 'pair')}
    for r in s.sites.itertuples(): D[r.motif][r.seq] += bump((r.start + r.end)/2)
    npairs = 0
    for i in range(120):                                # independent pair search, float64
        g = s.sites[(s.sites.seq == i) & (s.sites.motif == 'GATA')]
        a = s.sites[(s.sites.seq == i) & (s.sites.motif == 'AP1')]
        for x in (g.start + g.end)/2:
            for y in (a.start + a.end)/2:
                if abs(x - y) <= 64: D['pair'][i] += bump((x + y)/2); npairs += 1
    assert npairs == len(s.pairs) > 0
    gc = np.array([[sum(c in 'CG' for c in q[p*pw:(p+1)*pw])/pw for p in range(P)] for q in hot1_dna(s.seqs)])
    want = np.stack([0.5 + 20*D['GATA'], 0.5 + 20*D['AP1'], 0.5 + 30*D['CTCF'], 0.5 + 30*D['pair'],
                     0.5 + 8*D['GATA'] + 15*D['CTCF'], 8*(gc/0.5)**3], -1)
    np.testing.assert_allclose(s.rates, want, rtol=1e-5, atol=1e-5)

def test_synthetic_noise_and_signal():
    s = synthetic_dataset(1000, 1024, seed=0)
    assert np.array_equal(s.targets, np.round(s.targets)) and s.targets.min() >= 0
    np.testing.assert_allclose(s.targets.mean((0, 1)), s.rates.mean((0, 1)), rtol=0.02)
    # learnable: the noise-free rates explain most of the variance of every motif-driven target
    ceil = [np.corrcoef(s.rates[..., t].ravel(), s.targets[..., t].ravel())[0, 1] for t in range(6)]
    assert min(np.array(ceil)[s.motif_driven]) > 0.9

def test_synthetic_split_and_tfrecord_round_trip(tmp_path):
    s = synthetic_dataset(100, 512, seed=4)
    sp = s.split(valid=0.1, test=0.2)
    assert [len(x) for x in sp] == [70, 10, 20]
    np.testing.assert_array_equal(sp.valid.seqs, s.seqs[70:80])
    dna = hot1_dna(sp.test.seqs)
    for r in sp.test.sites.itertuples(): assert dna[r.seq][r.start:r.end] == r.site
    assert len(sp.train.sites) + len(sp.valid.sites) + len(sp.test.sites) == len(s.sites)
    assert len(sp.train.pairs) + len(sp.valid.pairs) + len(sp.test.pairs) == len(s.pairs)
    assert set(sp.test.pairs.gata) <= set(sp.test.sites.index)
    for layout, want in (('codes', ('codes', 'float16')), ('onehot', ('onehot', 'float_list'))):
        d = s.to_tfrecords(tmp_path/layout, valid=0.1, test=0.2, seqs_per_tfr=32, layout=layout)
        stats = json.loads((d/'statistics.json').read_text())
        assert (stats['train_seqs'], stats['valid_seqs'], stats['test_seqs'], stats['pool_width']) == (70, 10, 20, 32)
        for split, part in sp._asdict().items():
            sd = SeqDataset(d, split, batch_size=16)
            assert sd.layout == want
            x, y = sd.numpy()
            np.testing.assert_array_equal(x, part.seqs); np.testing.assert_array_equal(y, part.targets)
    with pytest.raises(ValueError, match='exists and is not an empty directory'):
        s.to_tfrecords(tmp_path/'codes')
    xb, yb = next(iter(s.dataset(batch_size=8, shuffle_buffer=100, seed=1)))
    assert tuple(xb.shape) == (8, 512, 4) and tuple(yb.shape) == (8, 16, 6)


def test_writers_give_the_umask_mode_and_leave_no_temporary_file(tmp_path, umask027, monkeypatch):
    "TFRecords and FASTA indexes get the umask's permissions; a failing write leaves no file, temporary or not."
    import pyfaidx

    import genomenn.tfrecords
    seqs = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (3, 64))]
    split = {'train': (seqs, np.ones((3, 2, 1), np.float32))}
    write_tfrecords(tmp_path/'d', split, seqs_per_tfr=2)
    want = {'d': 0o750, 'd/statistics.json': 0o640, 'd/targets.txt': 0o640, 'd/tfrecords': 0o750,
            'd/tfrecords/train-0.tfr': 0o640, 'd/tfrecords/train-1.tfr': 0o640}
    assert file_modes(tmp_path) == want
    def fail(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(genomenn.tfrecords, 'hot1_codes', fail)
    with pytest.raises(OSError, match='disk full'): write_tfrecords(tmp_path/'e', split)
    assert file_modes(tmp_path) == want
    (tmp_path/'x.fa').write_text('>s1\nACGTAC\n'); (tmp_path/'y.fa').write_text('>s2\nGG\n')
    with Genome(tmp_path/'x.fa', cache_dir=tmp_path/'c') as g: assert g.fetch('s1', 0, 4) == 'ACGT'
    files = {k: m for k, m in file_modes(tmp_path/'c').items() if (tmp_path/'c'/k).is_file()}
    assert [(Path(k).name, m) for k, m in files.items()] == [('x.fa.fai', 0o640)]
    monkeypatch.setattr(pyfaidx, 'Fasta', fail)
    with pytest.raises(OSError, match='disk full'): Genome(tmp_path/'y.fa', cache_dir=tmp_path/'c')
    assert {k: m for k, m in file_modes(tmp_path/'c').items() if (tmp_path/'c'/k).is_file()} == files


def test_read_targets_of_the_baskerville_data_directory():
    path = shared_path('tfrecords', 'baskerville_tiny_hg38', 'targets.txt')
    t = read_targets(path)
    raw = pd.read_csv(path, sep='\t', index_col=0)                  # the reading baskerville's scripts do
    assert len(t) == 74 and list(t.index) == list(range(74))
    assert list(t.columns) == list(TARGETS_COLUMNS)
    np.testing.assert_array_equal(t['strand_pair'].to_numpy(), raw['strand_pair'].to_numpy())
    np.testing.assert_allclose(t[['clip', 'clip_soft', 'scale']].to_numpy(float),
                               raw[['clip', 'clip_soft', 'scale']].to_numpy(float))
    assert (t['identifier'] == raw['identifier']).all() and (t['description'] == raw['description']).all()
    pair = strand_pairs(t)
    assert (pair != np.arange(74)).sum() == 54 and (pair[pair] == np.arange(74)).all()
    assert t.identifier[pair[0]] == 'CNhs10752-' and t.identifier[0] == 'CNhs10752+'
    sub = t.iloc[[0, 1, 24]]                                          # a subset keeps its pairs as row positions
    assert strand_pairs(sub).tolist() == [1, 0, 2]


def test_read_targets_errors_name_file_and_line(tmp_path):
    head = '\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n'
    f = tmp_path / 't.txt'
    f.write_text(head + '0\ta\tf\t32\t2\tx\tmean\t0\td\n')
    with pytest.raises(DataError, match=r't\.txt:2: scale: expected a number, got \'x\''):
        read_targets(f)
    f.write_text(head + '0\ta\tf\t32\t2\t1\tmean\t5\td\n')
    with pytest.raises(DataError, match=r't\.txt:2: strand_pair 5 is not a track index of this file'):
        read_targets(f)
    f.write_text(head + '0\ta\tf\t32\t2\t1\tmean\t0\td\n0\tb\tf\t32\t2\t1\tmean\t0\td\n')
    with pytest.raises(DataError, match='track index 0 appears twice'):
        read_targets(f)
    f.write_text('a b c\n1 2 3\n')
    with pytest.raises(DataError, match="expected a header with an 'identifier' column"):
        read_targets(f)
    with pytest.raises(FileNotFoundError, match='no targets file'):
        read_targets(tmp_path / 'missing.txt')
    old = tmp_path / 'old.txt'                                        # older files: fewer columns, no strand pairs
    old.write_text('\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n0\ta\tf\t32\t1\tsum\td\n')
    assert strand_pairs(read_targets(old)).tolist() == [0]
