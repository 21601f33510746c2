"""run_notebooks: grid naming, manifest, resume, failures, parameter checks, GPU slots, retries, Dask, interrupts."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import genomenn
import genomenn.batch as gb
from genomenn.batch import expand_params, read_manifest, run_name, run_notebooks
from genomenn.utils import pid_alive

ROOT = Path(genomenn.__file__).resolve().parent.parent
EXAMPLE = ROOT/'nbs'/'pipelines'/'example.ipynb'
GRID = {'a': [1, 2], 'b': ['x', 'y'], 'seconds': [0.4]}


def record(path):
    "The RECORD line the example pipeline prints (its parameters and environment)."
    nb = nbformat.read(path, as_version=4)
    text = ''.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []))
    assert 'RECORD ' in text, f'{path} printed no record'
    return json.loads(text.split('RECORD ', 1)[1].splitlines()[0])


def peak_overlap(spans):
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, d in events: live += d; peak = max(peak, live)
    return peak


def check_grid_manifest(df, out):
    "The 2x2 grid's manifest and notebooks, the same whichever executor ran them."
    runs = expand_params(GRID)
    assert list(df.name) == [run_name(EXAMPLE, p) for p in runs]
    assert list(df.status) == ['completed'] * 4 and (df.error == '').all() and (df.attempts == 1).all()
    assert [json.loads(p) for p in df.params] == runs
    assert list(df.a) == [1, 1, 2, 2] and list(df.b) == ['x', 'y', 'x', 'y']
    assert sorted(p.name for p in out.glob('*.ipynb')) == sorted(n + '.ipynb' for n in df.name)
    recs = [record(p) for p in df.output]
    assert [(r['a'], r['b']) for r in recs] == [(p['a'], p['b']) for p in runs]   # each shows its own parameters
    assert {r['cwd'] for r in recs} == {str(EXAMPLE.parent)}
    # the manifest file says the same as the returned table
    disk = pd.read_csv(out/'manifest.csv', keep_default_na=False)
    assert list(disk.name) == list(df.name) and list(disk.status) == list(df.status)
    assert [json.loads(p) for p in disk.params] == runs
    assert not [p for p in out.iterdir() if p.name.endswith('.tmp')]
    return recs


def check_gpu_slots(df, recs, slots):
    assert [r['cuda_visible_devices'] for r in recs] == list(df.gpu)
    assert set(df.gpu) <= set(slots)
    spans = [(r['start'], r['end'], r['cuda_visible_devices']) for r in recs]
    for i, (s1, e1, g1) in enumerate(spans):
        for s2, e2, g2 in spans[i+1:]:
            if s1 < e2 and s2 < e1: assert g1 != g2, f'runs overlapping in time share slot {g1}'
    assert peak_overlap([(s, e) for s, e, _ in spans]) <= len(slots)


def test_grid_gpu_slots_manifest_and_resume(tmp_path):
    out = tmp_path/'runs'
    with pytest.warns(UserWarning, match='max_proc=3 reduced to 2'):
        df = run_notebooks(EXAMPLE, GRID, out, max_proc=3, gpus=[0, 1], progress=False)
    recs = check_grid_manifest(df, out)
    check_gpu_slots(df, recs, ['0', '1'])
    assert not df.resumed.any()
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob('*.ipynb')}
    # rerun with one more setting: the four completed runs are skipped, only the new one runs
    runs = expand_params(GRID) + [{'a': 3, 'b': 'z', 'seconds': 0.0}]
    df2 = run_notebooks(EXAMPLE, runs, out, max_proc=2, progress=False)
    assert list(df2.resumed) == [True] * 4 + [False] and list(df2.status) == ['completed'] * 5
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert record(df2.output[4])['a'] == 3 and record(df2.output[4])['cuda_visible_devices'] is None
    assert len(read_manifest(out)) == 5
    # resume=False runs again
    df3 = run_notebooks(EXAMPLE, [runs[0]], out, resume=False, progress=False)
    assert not df3.resumed[0] and Path(df3.output[0]).stat().st_mtime_ns != mtimes[Path(df3.output[0])]
    assert len(read_manifest(out)) == 5


def test_failed_run_kept_and_batch_continues(tmp_path):
    out = tmp_path/'runs'
    df = run_notebooks(EXAMPLE, [{'a': 7, 'fail': True}, {'a': 8}], out, progress=False)
    assert list(df.status) == ['failed', 'completed']
    assert df.error[0] == 'RuntimeError: failing on purpose with a=7, b=x (cell 4)' and df.error[1] == ''
    nb = nbformat.read(df.output[0], as_version=4)   # the failed notebook is kept, with its traceback
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert [(e.ename, e.evalue) for e in errors] == [('RuntimeError', 'failing on purpose with a=7, b=x')]
    assert record(df.output[1])['a'] == 8
    # rerunning retries the failure and skips the completed run
    df2 = run_notebooks(EXAMPLE, [{'a': 7, 'fail': True}, {'a': 8}], out, progress=False)
    assert list(df2.resumed) == [False, True] and list(df2.status) == ['failed', 'completed']


def test_unknown_parameter_rejected_before_any_run(tmp_path):
    out = tmp_path/'never'
    with pytest.raises(ValueError,
                       match=r"unknown parameter 'sconds' \(did you mean 'seconds'\?\).*its parameters are: a, "
                             r"b, seconds, fail"):
        run_notebooks(EXAMPLE, {'a': [1, 2], 'sconds': [1]}, out)
    with pytest.raises(ValueError, match=r"unknown parameters 'x', 'y'"):
        run_notebooks(EXAMPLE, [{'a': 1}, {'x': 1, 'y': 2}], out)
    assert not out.exists()   # nothing ran, nothing was written
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])
    nbformat.write(nb, tmp_path/'plain.ipynb')
    with pytest.raises(ValueError, match="plain.ipynb has no cell tagged 'parameters'"):
        run_notebooks(tmp_path/'plain.ipynb', {'x': [2]}, out)
    with pytest.raises(FileNotFoundError, match='notebook'):
        run_notebooks(tmp_path/'missing.ipynb', None, out)
    assert not out.exists()


@pytest.mark.parametrize('kw, match', [
    (dict(params={'a': []}), r"params\['a'\]: expected at least one value"),
    (dict(params=[{'a': 1}, {'a': 1}]), 'repeats run 0'),
    (dict(params='a=1'), 'params: expected a grid dict'),
    (dict(params=None, max_proc=0), 'max_proc'),
    (dict(params=None, gpus=[]), 'gpus'),
    (dict(params=None, gpus=[0, 0]), 'gpus'),
    (dict(params=None, cwd='/no/such/folder'), 'cwd'),
])
def test_bad_arguments(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match): run_notebooks(EXAMPLE, out_dir=tmp_path/'o', progress=False, **kw)
    assert not (tmp_path/'o').exists()


def test_kernel_startup_collisions_are_retried(tmp_path, monkeypatch):
    real, calls = gb._execute, []
    def flaky(spec):
        calls.append(spec['name'])
        if calls.count(spec['name']) == 1:
            raise RuntimeError('Kernel died before replying to kernel_info')   # a port collision
        return real(spec)
    monkeypatch.setattr(gb, '_execute', flaky)
    df = run_notebooks(EXAMPLE, [{'a': 11}], tmp_path/'o', progress=False)
    assert list(df.status) == ['completed'] and list(df.attempts) == [2] and record(df.output[0])['a'] == 11
    # other errors are not retried; start-up errors stop after `retries` extra attempts
    monkeypatch.setattr(gb, '_execute', lambda spec: (_ for _ in ()).throw(OSError('disk full')))
    df = run_notebooks(EXAMPLE, [{'a': 12}], tmp_path/'o', progress=False)
    assert list(df.attempts) == [1] and df.error[0] == 'OSError: disk full'
    monkeypatch.setattr(gb, '_execute',
                        lambda spec: (_ for _ in ()).throw(RuntimeError('ZMQError: Address already in use')))
    df = run_notebooks(EXAMPLE, [{'a': 13}], tmp_path/'o', progress=False, retries=1)
    assert list(df.attempts) == [2] and list(df.status) == ['failed'] and 'Address already in use' in df.error[0]


def test_dask_local_cluster_same_grid_same_manifest(tmp_path):
    distributed = pytest.importorskip('distributed')
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol='tcp', host='127.0.0.1',
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster.scheduler_address) as client):
        assert cluster.scheduler_address.startswith('tcp://127.0.0.1:')
        out = tmp_path/'runs'
        df = run_notebooks(EXAMPLE, GRID, out, max_proc=2, gpus=['0', '1'], executor=client, progress=False)
    recs = check_grid_manifest(df, out)
    check_gpu_slots(df, recs, ['0', '1'])


def _descendants(pid):
    "Pids of every process descending from `pid` (Linux /proc)."
    children = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []): out.append(c); todo.append(c)
    return out


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='needs /proc')
def test_interrupt_kills_kernels_and_records_it(tmp_path):
    out = tmp_path/'runs'
    script = textwrap.dedent(f"""
        import signal; signal.signal(signal.SIGINT, signal.default_int_handler)
        from genomenn.batch import run_notebooks
        run_notebooks({str(EXAMPLE)!r}, {{'a': [1, 2, 3], 'seconds': [60]}}, {str(out)!r}, max_proc=2, progress=False)
    """)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    proc = subprocess.Popen([sys.executable, '-c', script], env=env, stderr=subprocess.PIPE)
    try:
        def two_kernels():
            kernels = [p for p in _descendants(proc.pid) if b'ipykernel' in Path(f'/proc/{p}/cmdline').read_bytes()]
            return len(kernels) >= 2
        end = time.monotonic() + 60
        while not two_kernels():
            assert proc.poll() is None and time.monotonic() < end, 'kernels did not start'
            time.sleep(0.1)
        time.sleep(0.5)   # let the kernels reach the running cell
        kids = _descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert b'KeyboardInterrupt' in err
    assert [p for p in kids if pid_alive(p)] == []
    m = read_manifest(out)
    assert sorted(m.status) == ['interrupted', 'interrupted', 'pending']


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(['a', 'lr', 'name', 'x_y']),
                                st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                                          st.text(max_size=40), st.lists(st.integers(), max_size=3)), max_size=3),
                min_size=1, max_size=8, unique_by=lambda d: json.dumps(d, sort_keys=True)))
def test_names_are_safe_and_distinct(runs):
    names = gb._unique_names('nb.ipynb', runs, {})
    assert len(set(names)) == len(runs)
    for n in names:
        assert all(ch.isascii() and (ch.isalnum() or ch in '._=+-') for ch in n) and len(n) < 100
    assert names == [run_name('nb.ipynb', r) for r in runs]   # no hash clash here, so the plain names
