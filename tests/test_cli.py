"""The genomenn command line: --version, --help, value parsing and `genomenn batch` end to end."""
import json
import sys
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from conftest import run, run_cli

import genomenn
from genomenn.cli import build_parser, main, parse_assignment, parse_value, read_grid

ROOT = Path(genomenn.__file__).resolve().parent.parent
EXAMPLE = ROOT/'nbs'/'pipelines'/'example.ipynb'


cli = partial(run_cli, timeout=120)


def test_version_and_help():
    r = cli('--version')
    assert r.returncode == 0 and r.stdout.strip() == f'genomenn {genomenn.__version__}'
    r = cli('--help')
    assert r.returncode == 0 and 'batch' in r.stdout and 'usage: genomenn' in r.stdout
    r = cli('batch', '--help')
    assert r.returncode == 0
    for opt in ('-p KEY=V1,V2', '--grid FILE', '-o DIR', '-j N', '--gpus', '--scheduler ADDRESS', '--no-resume'):
        assert opt in r.stdout
    r = cli()
    assert r.returncode == 0 and 'usage: genomenn' in r.stdout


def test_the_command_line_starts_without_numpy():
    "`genomenn --help` stays fast: importing the CLI loads neither numpy nor pandas (they come with a subcommand)."
    r = run([sys.executable, '-c', "import sys, genomenn.cli; print('numpy' in sys.modules, 'pandas' in sys.modules)"])
    assert r.returncode == 0 and r.stdout.split() == ['False', 'False'], r.stderr


def test_every_subcommand_has_help(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == 'command')
    assert 'batch' in sub.choices
    for name in sub.choices:
        with pytest.raises(SystemExit) as e: main([name, '--help'])
        assert e.value.code == 0 and f'usage: genomenn {name}' in capsys.readouterr().out


@pytest.mark.parametrize('text, value', [
    ('3', 3), ('-2', -2), ('+4', 4), ('0.5', 0.5), ('.5', 0.5), ('1e-3', 0.001), ('2E5', 200000.0), ('1.', 1.0),
    ('true', True), ('False', False), ('none', None), ('null', None), ('x', 'x'), ('1e', '1e'), ('0x10', '0x10'),
    ('"7"', '7'), ("'true'", 'true'), ('[64,32]', [64, 32]), ('{"k": 1}', {'k': 1}), ('', ''), ('a b', 'a b'),
])
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_assignment():
    assert parse_assignment('lr=0.1,1e-2') == ('lr', [0.1, 0.01])
    assert parse_assignment('layers=[64,32],[128]') == ('layers', [[64, 32], [128]])
    assert parse_assignment('name="a,b",c') == ('name', ['a,b', 'c'])
    assert parse_assignment('url=a=b') == ('url', ['a=b'])
    for bad in ('lr', '=1', '1x=2'):
        with pytest.raises(ValueError, match='KEY=VALUE'): parse_assignment(bad)
    with pytest.raises(ValueError, match='looks like JSON'): parse_assignment('x=[1,')


def test_read_grid(tmp_path):
    (tmp_path/'g.json').write_text('{"a": [1, 2]}')
    (tmp_path/'g.yaml').write_text('- {a: 1, b: 1.0e-3}\n- {a: 2}\n')
    (tmp_path/'bad.json').write_text('3')
    assert read_grid(tmp_path/'g.json') == {'a': [1, 2]}
    assert read_grid(tmp_path/'g.yaml') == [{'a': 1, 'b': 0.001}, {'a': 2}]
    with pytest.raises(ValueError, match='expected a dict of lists'): read_grid(tmp_path/'bad.json')
    with pytest.raises(FileNotFoundError, match='--grid'): read_grid(tmp_path/'none.json')


def test_batch_runs_records_failures_and_resumes(tmp_path, capsys):
    out = tmp_path/'runs'
    code = main(['batch', str(EXAMPLE), '-p', 'a=5', '-p', 'fail=false,true', '-o', str(out), '-j', '2', '--gpus',
                 '0,1', '-q'])
    text = capsys.readouterr().out
    assert code == 1   # one run failed
    assert text.startswith('2 runs: 1 completed (0 already done), 1 failed') and 'failing on purpose' in text
    m = pd.read_csv(out/'manifest.csv', keep_default_na=False)
    assert [json.loads(p) for p in m.params] == [{'a': 5, 'fail': False}, {'a': 5, 'fail': True}]   # typed values
    assert list(m.status) == ['completed', 'failed'] and sorted(m.gpu.astype(str)) == ['0', '1']
    assert all(Path(p).exists() for p in m.output)
    # the completed setting again, from a grid file: skipped
    (tmp_path/'grid.json').write_text(json.dumps([{'a': 5, 'fail': False}]))
    assert main(['batch', str(EXAMPLE), '--grid', str(tmp_path/'grid.json'), '-o', str(out), '-q']) == 0
    assert capsys.readouterr().out.startswith('1 runs: 1 completed (1 already done), 0 failed')


def test_batch_on_a_dask_scheduler(tmp_path, capsys):
    distributed = pytest.importorskip('distributed')
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol='tcp', host='127.0.0.1',
                                  dashboard_address=None) as cluster:
        code = main(['batch', str(EXAMPLE), '-p', 'b=p,q', '-o', str(tmp_path), '-j', '2', '--scheduler',
                     cluster.scheduler_address, '-q'])
    assert code == 0 and capsys.readouterr().out.startswith('2 runs: 2 completed')
    m = pd.read_csv(tmp_path/'manifest.csv', keep_default_na=False)
    assert list(m.b) == ['p', 'q'] and list(m.status) == ['completed'] * 2


@pytest.mark.parametrize('args, message', [
    (['-p', 'a=1', '-p', 'a=2'], '-p a: given twice'),
    (['-p', 'a'], 'KEY=VALUE'),
    (['-p', 'x=[1,'], 'looks like JSON'),
    (['--grid', 'missing.json'], "--grid: 'missing.json' does not exist"),
    (['-p', 'a=1', '--grid', 'g.json'], 'not allowed with argument'),
    (['-p', 'a=1', '-j', 'two'], "invalid int value: 'two'"),
    (['-p', 'a=1', '--gpus', '0,0'], 'gpus: expected distinct'),
])
def test_batch_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    try: code = main(['batch', str(EXAMPLE), *args, '-o', str(tmp_path/'out'), '-q'])
    except SystemExit as e: code = e.code   # argparse's own usage errors
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path/'out').exists()


def test_unknown_parameter_exit_code(tmp_path):
    r = cli('batch', EXAMPLE, '-p', 'lr=1', '-o', tmp_path/'out')
    assert r.returncode == 2 and "genomenn batch: error: params: unknown parameter 'lr'" in r.stderr
    assert 'its parameters are: a, b, seconds, fail' in r.stderr and not (tmp_path/'out').exists()


def test_batch_needs_out_dir(tmp_path):
    r = cli('batch', EXAMPLE, '-p', 'a=1')
    assert r.returncode == 2 and 'the following arguments are required: -o/--out-dir' in r.stderr
