"""`genomenn demo` end to end from a plain (non-editable) install, `genomenn params show`, and the demo's refusals."""
import json
import shutil
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run, run_cli

import genomenn

ROOT = Path(genomenn.__file__).resolve().parent.parent
# held-out bars of the quick demo (measured: Pearson R 0.82-0.95 on the motif targets, AUROC 0.89-1.00)
MIN_PEARSON_MOTIF, MIN_AUROC = 0.6, 0.8


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    "genomenn installed with a plain `pip install --target` from a copy of the source tree (no editable paths)."
    tmp = tmp_path_factory.mktemp('install')
    src = tmp/'src'; src.mkdir()
    for f in ('setup.py', 'settings.ini', 'README.md', 'MANIFEST.in'): shutil.copy(ROOT/f, src/f)
    shutil.copytree(ROOT/'genomenn', src/'genomenn', ignore=shutil.ignore_patterns('__pycache__', 'pipelines'))
    shutil.copytree(ROOT/'nbs'/'pipelines', src/'nbs'/'pipelines')
    target = tmp/'site'
    try:
        import setuptools  # noqa: F401  (build here, without fetching build requirements)
    except ImportError: isolation = []
    else: isolation = ['--no-build-isolation']
    r = run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', *isolation, '--target', target, src], cwd=tmp)
    assert r.returncode == 0, r.stderr
    return target


def test_pipelines_ship_inside_the_package(installed, tmp_path):
    shipped = sorted(p.name for p in (installed/'genomenn'/'pipelines').glob('*.ipynb'))
    assert shipped == sorted(p.name for p in (ROOT/'nbs'/'pipelines').glob('*.ipynb')) and 'demo.ipynb' in shipped
    shipped = (installed/'genomenn'/'pipelines'/'demo.ipynb').read_bytes()
    assert shipped == (ROOT/'nbs'/'pipelines'/'demo.ipynb').read_bytes()
    r = run([sys.executable, '-c', 'import genomenn.cli as c; print(c.__file__); print(c.pipeline_notebook("demo"))'],
            pythonpath=installed, cwd=tmp_path)
    mod, nb = r.stdout.split()
    assert Path(mod).is_relative_to(installed) and Path(nb) == installed/'genomenn'/'pipelines'/'demo.ipynb'
    r = run([installed/'bin'/'genomenn', '--version'], pythonpath=installed, cwd=tmp_path)   # the console script
    assert r.returncode == 0 and r.stdout.strip() == f'genomenn {genomenn.__version__}'
    r = run([installed/'bin'/'genomenn', 'demo', '--help'], pythonpath=installed, cwd=tmp_path)
    assert r.returncode == 0 and 'usage: genomenn demo' in r.stdout


def test_demo_quick_end_to_end(installed, tmp_path):
    out = tmp_path/'demo'; out.mkdir()
    (out/'mine.txt').write_text('my notes')                       # a file of the user's: --force must leave it alone
    r = run_cli('demo', '--quick', '-o', out, '--force', '-q', pythonpath=installed, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out/'mine.txt').read_text() == 'my notes'
    assert f'outputs in {out}' in r.stdout and str(out/'metrics.csv') in r.stdout

    s = json.loads((out/'summary.json').read_text())
    names = ['GATA', 'AP1', 'CTCF', 'GATA_AP1_pair', 'GATA_CTCF_mix', 'GC_background']
    m = pd.read_csv(out/'metrics.csv')
    assert list(m.target) == names and m.motif_driven.tolist() == [True]*5 + [False]
    num = m.drop(columns=['target', 'motif_driven']).to_numpy(float)
    assert np.isfinite(num).all()
    assert (m.pearsonr[m.motif_driven] >= MIN_PEARSON_MOTIF).all(), m
    assert all(abs(s['metrics'][r.target]['pearsonr'] - r.pearsonr) < 1e-5 for r in m.itertuples())
    assert set(s['motif_auroc']) == set(names[:5])
    assert all(v >= MIN_AUROC for v in s['motif_auroc'].values()), s['motif_auroc']
    assert s['parameters']['n_seqs'] == 3000 and s['versions']['genomenn'] == genomenn.__version__
    assert {'train', 'gradients', 'ism'} <= set(s['timings_s'])

    from PIL import Image
    sizes = {'jointplot.png': (600, 600), 'regplot.png': (1200, 800), 'logos.png': (1100, 920),
             'tracks.png': (1000, 1020)}
    for f, size in sizes.items():
        with Image.open(out/f) as im:
            im.load()
            assert im.format == 'PNG' and im.size == size, (f, im.size)
            assert np.asarray(im.convert('L')).std() > 5      # not a blank canvas
    assert (out/'demo.ipynb').is_file() and (out/'train'/'model_best.weights.h5').is_file()
    assert 'I0000' not in r.stderr and (out/'kernel.log').is_file()   # the kernel's start-up lines go to its log

    # the figures are reproducible from the files the demo wrote: params.json + best weights on the same test split
    from scipy.stats import pearsonr

    from genomenn.model import SeqNN
    from genomenn.synthetic import synthetic_dataset
    te = synthetic_dataset(n=3000, seq_length=512, seed=0).split(valid=0.1, test=0.1).test
    net = SeqNN(out/'params.json').restore(out/'train'/'model_best.weights.h5')
    p = net.predict(te.seqs, batch_size=64).astype(np.float64)
    for k, name in enumerate(names):
        ref = pearsonr(p[..., k].ravel(), te.targets[..., k].ravel().astype(np.float64)).statistic
        assert abs(ref - m.pearsonr[k]) < 1e-3, (name, ref, m.pearsonr[k])

    # run again without --force: refused, nothing touched
    before = {f: f.stat().st_mtime_ns for f in out.iterdir()}
    r = run_cli('demo', '--quick', '-o', out, pythonpath=installed, cwd=tmp_path)
    assert r.returncode == 2 and 'is not empty (use --force' in r.stderr
    assert {f: f.stat().st_mtime_ns for f in out.iterdir()} == before


cli = partial(run_cli, timeout=300)


def test_demo_bad_options(tmp_path):
    r = cli('demo', '--quik', '-o', tmp_path/'a')
    assert r.returncode == 2 and 'unrecognized arguments: --quik' in r.stderr
    r = cli('demo', '-o', tmp_path/'a', '-p', 'epoch=3')
    assert r.returncode == 2 and "unknown parameter 'epoch' (did you mean 'epochs'?)" in r.stderr
    r = cli('demo', '-o', tmp_path/'a', '-p', 'epochs')
    assert r.returncode == 2 and 'expected KEY=VALUE' in r.stderr
    r = cli('demo', '-o', tmp_path/'a', '-p', 'epochs=1,2')
    assert r.returncode == 2 and 'expected one value' in r.stderr
    (tmp_path/'f').write_text('x')
    r = cli('demo', '-o', tmp_path/'f')
    assert r.returncode == 2 and 'is a file, expected a folder' in r.stderr and (tmp_path/'f').read_text() == 'x'
    assert not (tmp_path/'a').exists()
    r = cli('demo', '--help')
    assert r.returncode == 0 and all(o in r.stdout for o in ('--quick', '--force', '-o DIR', '-p KEY=VALUE'))


def test_demo_failure_names_the_executed_notebook(tmp_path):
    "An error inside the pipeline exits 1 and points at the executed notebook, which is kept."
    r = cli('demo', '--quick', '-q', '-o', tmp_path/'d', '-p', 'targets=["NOPE"]')
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'the demo failed in cell' in r.stderr and "targets: expected 'all' or names among" in r.stderr
    assert f"the executed notebook is {tmp_path/'d'/'demo.ipynb'}" in r.stderr and (tmp_path/'d'/'demo.ipynb').is_file()
    assert (tmp_path/'d'/'kernel.log').is_file()


def test_params_show_holds_back_tensorflow_start_up_notices():
    "TensorFlow's C++ start-up lines (absl, oneDNN, CUDA stubs, cuInit) are hidden; TF_CPP_MIN_LOG_LEVEL=0 shows them."
    import os
    import re
    import subprocess
    import sys

    from conftest import ROOT, shared_path
    small = shared_path('params', 'basenji__tutorials__models__params_small.json')
    notice = re.compile(r'^(WARNING: All log messages before absl|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )', re.M)
    def stderr(level):
        env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'} | {'PYTHONPATH': str(ROOT)}
        if level is not None: env['TF_CPP_MIN_LOG_LEVEL'] = level
        r = subprocess.run([sys.executable, '-m', 'genomenn.cli', 'params', 'show', str(small)], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 0 and 'Total params' in r.stdout, r.stderr
        return r.stderr
    quiet = stderr(None)
    assert not notice.findall(quiet), quiet                   # the default: level 2
    assert len(notice.findall(stderr('0'))) >= 3              # asked for: all of them


def test_params_show(tmp_path):
    from conftest import shared_path
    f = shared_path('params', 'basenji__manuscripts__genome_research2018__params.txt')
    r = cli('params', 'show', f, '--no-model')
    assert r.returncode == 0, r.stderr
    assert 'seq_length 131072, 4229 targets, 13 layers, total pool 128' in r.stdout and 'Total params' not in r.stdout
    rows = [l.split() for l in r.stdout.splitlines() if l.split() and l.split()[0].isdigit()]
    assert [int(x[0]) for x in rows] == list(range(13)) and int(rows[0][1]) == 312 and int(rows[-1][-1]) == 32871
    small = shared_path('params', 'basenji__tutorials__models__params_small.json')
    r = cli('params', 'show', small)
    assert r.returncode == 0, r.stderr
    from genomenn.model import SeqNN
    n = SeqNN(small).model.count_params()
    assert f'Total params: {n:,}' in r.stdout
    r = cli('params', 'show', shared_path('params', 'basenji__manuscripts__akita__params.json'))
    assert r.returncode == 0 and 'Total params: 751,653' in r.stdout and 'one_to_two' in r.stdout
    r = cli('params', 'show', shared_path('params', 'baskerville__tests__data__eval__params.json'))   # Borzoi-lite
    assert r.returncode == 0 and 'Total params: 642,994' in r.stdout and 'MultiheadAttention' in r.stdout
    assert 'head_human (2048, 74), head_mouse (2048, 32)' in r.stdout
    later = tmp_path/'later.json'   # a valid block genomenn does not build yet
    later.write_text('{"model": {"seq_length": 64, "trunk": [{"name": "conv_dna", "filters": 4}], '
                     '"head": [{"name": "transformer_dense"}]}}')
    r = cli('params', 'show', later)
    assert r.returncode == 0 and 'model summary: not available' in r.stdout and 'transformer_dense' in r.stdout
    r = cli('params', 'show', tmp_path/'missing.json')
    assert r.returncode == 2 and 'does not exist' in r.stderr
    bad = tmp_path/'bad.json'
    bad.write_text('{"model": {"seq_length": 100, "trunk": [{"name": "conv_dna", "filters": "x"}]}}')
    r = cli('params', 'show', bad)
    assert r.returncode == 2 and str(bad) in r.stderr
    r = cli('params')
    assert r.returncode == 2 and 'required: COMMAND' in r.stderr.replace('the following arguments are required',
                                                                         'required')


def test_readme_commands_parse():
    "Every `genomenn ...` command shown in the README is accepted by the command line's parser."
    import re
    import shlex

    from genomenn.cli import build_parser
    blocks = re.findall(r'```sh\n(.*?)```', (ROOT/'README.md').read_text(), re.S)
    cmds = [l.strip() for b in blocks for l in b.splitlines() if l.strip().startswith('genomenn ')]
    assert {c.split()[1] for c in cmds} >= {'demo', 'params', 'batch'}, cmds
    for c in cmds:
        args = build_parser().parse_args(shlex.split(c)[1:])
        assert callable(args.func), c


def test_demo_with_chosen_targets_no_ensemble_and_no_ism(tmp_path):
    """Settings a user changes with -p: a target subset, no rc, one shift, no ISM (small and short, so not a quality
    check)."""
    out = tmp_path/'d'
    r = cli('demo', '-q', '-o', out, '-p', 'n_seqs=600', '-p', 'seq_length=256', '-p', 'epochs=2', '-p', 'filters=16',
            '-p', 'targets=["CTCF","GC_background"]', '-p', 'rc=false', '-p', 'shifts=[0]', '-p', 'n_ism=0')
    assert r.returncode == 0, r.stderr[-3000:]
    m = pd.read_csv(out/'metrics.csv')
    assert list(m.target) == ['CTCF', 'GC_background'] and np.isfinite(m.pearsonr).all()
    a = pd.read_csv(out/'attribution.csv')
    assert list(a.target) == ['CTCF'] and a.ism_gradient_pearsonr.isna().all() and 0 <= a.auroc[0] <= 1
    s = json.loads((out/'summary.json').read_text())
    assert s['parameters']['rc'] is False and s['parameters']['shifts'] == [0] and s['parameters']['n_ism'] == 0
    assert json.loads((out/'params.json').read_text())['model']['head']['units'] == 2
    r = cli('demo', '-q', '-o', tmp_path/'e', '-p', 'n_explain=0')
    assert r.returncode == 1 and 'n_explain: expected an integer >= 1, got 0' in r.stderr
