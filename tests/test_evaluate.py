"""`genomenn eval` / genomenn.evaluate: hound_eval's own tables reproduced for the shared Borzoi-lite checkpoint,
metrics against scipy/sklearn on the saved predictions, the figures' content, bad input, and the batch pipeline."""
import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, shared_path
from helpers import file_modes, tiny_seqnn, tiny_tfrecords

import genomenn
from genomenn.cli import main

ROOT = Path(genomenn.__file__).resolve().parent.parent
TOL = 2e-3           # the acceptance bar; measured: 7e-6 (Pearson, R2), 2.5e-5 (Spearman)
PARAMS = ('params', 'baskerville__tests__data__eval__params.json')
MODEL = ('models', 'baskerville_eval', 'baskerville__tests__data__eval__model.h5')
DATA = ('tfrecords', 'baskerville_tiny_hg38')


def cli(*args):
    "Run `genomenn ARGS` in this process; (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def real(tmp_path_factory):
    """genomenn eval of the shared checkpoint on the tiny hg38 test split: plain (--rank --save) and --rc
    --shifts=-1,0,1 --rank."""
    p, m, d = shared_path(*PARAMS), shared_path(*MODEL), shared_path(*DATA)
    tmp = tmp_path_factory.mktemp('eval')
    outs = {}
    for name, extra in (('plain', ['--save']), ('rc_shifts', ['--rc', '--shifts=-1,0,1', '--no-figures'])):
        code, so, se = cli('eval', p, m, d, '-o', tmp/name, '--rank', '-q', *extra)
        assert code == 0, se
        outs[name] = (tmp/name, so)
    return outs


@pytest.mark.parametrize('name', ['plain', 'rc_shifts'])
def test_hound_eval_tables_reproduced(real, name):
    from genomenn.evaluate import read_acc
    out, stdout = real[name]
    ref = pd.read_csv(shared_path('reference', 'hound_eval_subset', name, 'acc.txt'), sep='\t')
    ours = pd.read_csv(out/'acc.txt', sep='\t')
    assert list(ours.columns) == list(ref.columns) == ['index', 'pearsonr', 'spearmanr', 'r2', 'identifier',
                                                       'description']
    for c in ('index', 'identifier', 'description'): assert ours[c].tolist() == ref[c].tolist()
    for c in ('pearsonr', 'spearmanr', 'r2'):
        r, o = ref[c].to_numpy(float), ours[c].to_numpy(float)
        # hound_eval: nan (Pearson, Spearman) and -inf (R2 = 1 - resid/0) where the targets have no variance; ours NaN
        np.testing.assert_array_equal(np.isnan(o), ~np.isfinite(r), err_msg=c)
        assert np.nanmax(np.abs(o - r)) < TOL, (c, np.nanmax(np.abs(o - r)))
    assert np.flatnonzero(ours.pearsonr.isna()).tolist() == [40, 42, 47, 49, 61]
    # hound_eval's format: tab-separated, 5 decimals, NaN as an empty field
    lines = (out/'acc.txt').read_text().splitlines()
    assert len(lines) == 75 and all(re.fullmatch(r'-?\d\.\d{5}|', f) for l in lines[1:] for f in l.split('\t')[1:4])
    assert lines[41].split('\t')[:4] == ['40', '', '', '']
    assert read_acc(out/'acc.txt').equals(read_acc(out/'acc.txt'))
    assert 'test: 2 sequences x 2048 positions, 74 targets (5 without variance: NaN)' in stdout
    s = json.loads((out/'summary.json').read_text())
    assert [t['index'] for t in s['nan_targets']] == [40, 42, 47, 49, 61] and s['num_seqs'] == 2
    assert s['ensemble_members'] == (6 if name == 'rc_shifts' else 1)
    assert abs(s['metrics']['pearsonr']['mean'] - np.nanmean(ours.pearsonr)) < 1e-5


def test_saved_predictions_and_metrics_against_scipy_sklearn(real):
    import h5py
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import r2_score

    from genomenn.tfrecords import SeqDataset
    out, _ = real['plain']
    with h5py.File(out/'preds.h5') as f: preds = f['preds'][:]
    with h5py.File(out/'targets.h5') as f: targets = f['targets'][:]
    assert preds.shape == targets.shape == (2, 2048, 74) and preds.dtype == np.float32
    np.testing.assert_array_equal(targets, SeqDataset(shared_path(*DATA), 'test').numpy(return_inputs=False))
    assert not any(p.name.startswith('.') for p in out.iterdir())     # no temporary file left
    acc = pd.read_csv(out/'acc.txt', sep='\t')
    p, t = preds.reshape(-1, 74).astype(np.float64), targets.reshape(-1, 74).astype(np.float64)
    ok = np.flatnonzero(t.std(0) > 0)
    want = {'pearsonr': [pearsonr(p[:, j], t[:, j])[0] for j in ok],
            'spearmanr': [spearmanr(p[:, j], t[:, j])[0] for j in ok],
            'r2': r2_score(t[:, ok], p[:, ok], multioutput='raw_values')}
    for c, v in want.items(): np.testing.assert_allclose(acc[c].to_numpy(float)[ok], v, atol=5.1e-6, rtol=0, err_msg=c)


def test_figures_content(real):
    import matplotlib.pyplot as plt
    from PIL import Image

    from genomenn.evaluate import eval_figures, evaluate
    from genomenn.model import SeqNN
    out, _ = real['plain']
    for f in ('pearsonr_hist', 'jointplot', 'regplots', 'tracks'):
        with Image.open(out/f'{f}.png') as im: assert np.asarray(im.convert('L')).std() > 5, f
    net = SeqNN(shared_path(*PARAMS)).restore(shared_path(*MODEL))
    res = evaluate(net, shared_path(*DATA), n_tracks=1)
    acc = pd.read_csv(out/'acc.txt', sep='\t')
    np.testing.assert_allclose(res.acc.pearsonr, acc.pearsonr, atol=5.1e-6)   # the same run as the CLI's
    figs = eval_figures(res, pool_width=32, max_points=50_000)
    h = figs['pearsonr_hist'].axes[0]
    assert sum(b.get_height() for b in h.patches) == 69
    assert 'Pearson R of 69 targets' in h.get_title() and '5 NaN' in h.get_title()
    j = figs['jointplot']
    assert len(j.axes[0].collections[0].get_offsets()) == 50_000               # 2 x 2048 x 74 values, sampled
    assert '50,000 of 303,104 sampled values' in j._suptitle.get_text()
    r = acc.pearsonr.to_numpy(float)
    order = np.flatnonzero(np.isfinite(r))[np.argsort(-r[np.isfinite(r)], kind='stable')]
    want = [f"{w}: {acc.identifier[t]} (index {t})" for w,
            t in zip(('best', 'median', 'worst'), order[[0, len(order)//2, -1]])]
    assert [a.get_title() for a in figs['regplots'].axes] == want
    assert len(figs['regplots'].axes[0].collections[0].get_offsets()) == 4096   # every position of the best target
    tr = figs['tracks'].axes
    assert len(tr) == 3 and [a.get_ylabel() for a in tr] == [w.split(': ')[1].split(' (')[0] for w in want]
    assert all(len(a.patches) >= 1 for a in tr)
    for f in figs.values(): plt.close(f)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny model (params.json, model0.h5, model1.h5) and data directory: 256 bp, 8 positions, 3 targets."
    tmp = tiny_seqnn(tmp_path_factory.mktemp('tiny'), 256, num_targets=3, filters=8, seeds=(0, 1))
    tiny_tfrecords(tmp/'data', {'test': 5}, 256, lambda seqs, rng: rng.poisson(2, (5, 8, 3)).astype(np.float32),
                   pool_width=32)
    return tmp


def test_bad_input_names_the_file(tiny, tmp_path):
    import shutil

    p, m, d = tiny/'params.json', tiny/'model0.h5', tiny/'data'
    # a model whose targets do not match the data directory
    p4 = tmp_path/'params4.json'
    p4.write_text(json.dumps({**json.loads(p.read_text()), 'model': {**json.loads(p.read_text())['model'],
                                                                     'head': {'name': 'final', 'units': 4,
                                                                              'activation': 'softplus'}}}))
    from genomenn.model import SeqNN
    SeqNN(p4).save(tmp_path/'m4.h5')
    code, _, err = cli('eval', p4, tmp_path/'m4.h5', d, '-o', tmp_path/'o')
    assert code == 2 and f"{d/'targets.txt'}: lists 3 targets, but the model ({p4}, head 0) predicts 4" in err
    # a split with no records
    code, _, err = cli('eval', p, m, d, '--split', 'valid', '-o', tmp_path/'o')
    assert code == 2 and "no TFRecord files for split 'valid'" in err and str(d) in err
    e = tmp_path/'empty'
    shutil.copytree(d, e)
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(e/'tfrecords'/'test-0.tfr'), tf.io.TFRecordOptions(compression_type='ZLIB')): pass
    code, _, err = cli('eval', p, m, e, '-o', tmp_path/'o')
    assert code == 2 and f"split 'test': no records in {e/'tfrecords'/'test-0.tfr'}" in err, err
    # a missing targets.txt
    n = tmp_path/'notargets'; shutil.copytree(d, n); (n/'targets.txt').unlink()
    code, _, err = cli('eval', p, m, n, '-o', tmp_path/'o')
    assert code == 2 and f"{n/'targets.txt'}: no targets file" in err
    # a targets table disagreeing with statistics.json, and a missing checkpoint
    (n/'targets.txt').write_text('index\tidentifier\tdescription\n0\ta\ta\n')
    code, _, err = cli('eval', p, m, n, '-o', tmp_path/'o')
    assert code == 2 and f"{n/'targets.txt'}: lists 1 targets, but {n/'statistics.json'} says num_targets = 3" in err
    code, _, err = cli('eval', p, tmp_path/'none.h5', d, '-o', tmp_path/'o')
    assert code == 2 and f"model_file: no such file: {tmp_path/'none.h5'}" in err


def test_saved_files_get_the_umask_mode_and_a_failure_keeps_the_old_ones(tiny, tmp_path, umask027, monkeypatch):
    "preds.h5, targets.h5 and acc.txt get the umask's permissions; an evaluation that fails leaves earlier files."
    from genomenn import evaluate as ge
    from genomenn.model import SeqNN
    net, out = SeqNN(tiny/'params.json').restore(tiny/'model0.h5'), tmp_path/'out'
    res = ge.evaluate(net, tiny/'data', save=out)
    ge.write_acc(res.acc, out/'acc.txt')
    assert file_modes(out) == {'acc.txt': 0o640, 'preds.h5': 0o640, 'targets.h5': 0o640}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    def fail(x): raise RuntimeError('boom')
    monkeypatch.setattr(ge, 'ensemble_predictor', lambda *a: fail)
    with pytest.raises(RuntimeError, match='boom'): ge.evaluate(net, tiny/'data', save=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert file_modes(out) == {'acc.txt': 0o640, 'preds.h5': 0o640, 'targets.h5': 0o640}


def test_rc_ensemble_uses_strand_pairs(tiny, tmp_path):
    "With --rc the reverse-complement member's strand-paired tracks are swapped back (pairs from targets.txt)."
    import shutil

    from genomenn.evaluate import evaluate
    from genomenn.metrics import pearsonr
    from genomenn.model import SeqNN
    from genomenn.tfrecords import SeqDataset
    d = tmp_path/'data'; shutil.copytree(tiny/'data', d)
    t = pd.read_csv(d/'targets.txt', sep='\t', index_col=0); t['strand_pair'] = [1, 0, 2]
    t.to_csv(d/'targets.txt', sep='\t')
    net = SeqNN(tiny/'params.json').restore(tiny/'model0.h5')
    seqs, y = SeqDataset(d, 'test').numpy()
    res = evaluate(net, d, rc=True, shifts=(-1, 0, 1))
    want = pearsonr(net.predict(seqs, rc=True, shifts=(-1, 0, 1), strand_pair=np.array([1, 0, 2])), y, per_target=True)
    np.testing.assert_allclose(res.acc.pearsonr, want, atol=1e-6)
    plain = pearsonr(net.predict(seqs, rc=True, shifts=(-1, 0, 1)), y, per_target=True)
    assert np.abs(plain[:2] - want[:2]).max() > 1e-4        # the pairs matter


def test_pipeline_with_genomenn_batch(tiny, tmp_path):
    "`genomenn batch` runs the eval pipeline over two checkpoints; each run writes its acc.txt and summary.json."
    nb = ROOT/'nbs'/'pipelines'/'eval.ipynb'
    r = run_cli('batch', nb, '-p', f"params_file={tiny/'params.json'}",
                '-p', f"model_file={tiny/'model0.h5'},{tiny/'model1.h5'}", '-p', f"data_dir={tiny/'data'}",
                '-p', 'rank=true', '-o', tmp_path/'runs', '--cwd', tmp_path, '-j', '2', '-q', timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    accs = [pd.read_csv(tmp_path/f'eval_model{i}_test'/'acc.txt', sep='\t') for i in (0, 1)]
    assert all(list(a.columns) == ['index', 'pearsonr', 'spearmanr', 'r2', 'identifier', 'description'] for a in accs)
    assert not np.allclose(accs[0].pearsonr, accs[1].pearsonr)        # two different checkpoints
    s = json.loads((tmp_path/'eval_model1_test'/'summary.json').read_text())
    assert s['settings']['model_file'] == str(tiny/'model1.h5') and s['num_seqs'] == 5
    man = pd.read_csv(tmp_path/'runs'/'manifest.csv')
    executed = json.loads(Path(man.output[man.model_file == str(tiny/'model1.h5')].item()).read_text())
    out = [o for c in executed['cells'] for o in c.get('outputs', [])]
    assert any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in out)   # the explorer
    assert any('image/png' in o.get('data', {}) for o in out)
