"""exec_par: exit codes, failures, the max_proc bound, timeouts and interrupts that leave nothing running."""
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import genomenn
from genomenn.utils import CommandsFailed, ExecResult, atomic_write, exec_par, new_file_mode, pid_alive, safe_filename

ROOT = Path(genomenn.__file__).resolve().parent.parent
PY = sys.executable


def wait_for(pred, timeout=30):
    "Poll `pred` until true (test-side only); fail after `timeout` seconds."
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end: pytest.fail(f'condition not met within {timeout}s')
        time.sleep(0.05)


def test_exit_codes_durations_and_logs(tmp_path):
    res = exec_par(['exit 0', 'echo out; echo err >&2; exit 3', 'sleep 0.3', [PY, '-c', 'import sys; sys.exit(5)']],
                   max_proc=2, check=False, log_dir=tmp_path/'logs')
    assert all(isinstance(r, ExecResult) for r in res)
    assert [r.returncode for r in res] == [0, 3, 0, 5]
    assert [r.ok for r in res] == [True, False, True, False]
    assert res[2].duration >= 0.3 and all(r.duration >= 0 for r in res)
    assert res[1].stdout.read_text() == 'out\n' and res[1].stderr.read_text() == 'err\n'
    assert res[1].stdout.parent == tmp_path/'logs' and res[1].stdout.name == 'cmd0001.out'
    assert not any(r.timed_out for r in res)


def test_missing_program_is_exit_127(tmp_path):
    r, = exec_par([['/no/such/program', 'x']], check=False, log_dir=tmp_path)
    assert r.returncode == 127 and 'No such file' in r.stderr.read_text()


def test_failures_raise_after_all_ran(tmp_path):
    cmds = [f'touch {tmp_path}/a; echo first problem >&2; exit 2', f'touch {tmp_path}/b',
            f'touch {tmp_path}/c; echo second problem >&2; exit 7', f'sleep 0.2; touch {tmp_path}/d']
    with pytest.raises(CommandsFailed, match=r'2 of 4 commands failed') as ei:
        exec_par(cmds, max_proc=2, log_dir=tmp_path/'logs')
    err = ei.value
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ['a', 'b', 'c', 'd']   # all ran
    assert [r.cmd for r in err.failed] == [cmds[0], cmds[2]] and [r.returncode for r in err.failed] == [2, 7]
    msg = str(err)
    for needle in (cmds[0], 'exit code 2', 'first problem', cmds[2], 'exit code 7', 'second problem'):
        assert needle in msg
    assert cmds[1] not in msg and len(err.results) == 4


@pytest.mark.parametrize('max_proc', [1, 2, 3])
def test_max_proc_never_exceeded(tmp_path, max_proc):
    script = ("import sys, time; open(sys.argv[1], 'w').write(repr(time.time())); time.sleep(0.15); "
              "open(sys.argv[2], 'w').write(repr(time.time()))")
    n = 7
    exec_par([[PY, '-c', script, tmp_path/f'{i}.start', tmp_path/f'{i}.end'] for i in range(n)], max_proc=max_proc)
    spans = [(float((tmp_path/f'{i}.start').read_text()), float((tmp_path/f'{i}.end').read_text())) for i in range(n)]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, d in events: live += d; peak = max(peak, live)
    assert 1 <= peak <= max_proc


def test_env_is_added_and_cwd_used(tmp_path):
    r, = exec_par(['echo "$GENOMENN_TEST_VAR $(pwd)"; command -v sh >/dev/null'], env={'GENOMENN_TEST_VAR': 42},
                  cwd=tmp_path, log_dir=tmp_path/'logs')
    assert r.stdout.read_text().split() == ['42', str(tmp_path.resolve())]   # PATH kept: `sh` still found


def test_timeout_kills_command_and_grandchild(tmp_path):
    cmd = f'echo $$ > {tmp_path}/leader; sleep 60 & echo $! > {tmp_path}/child; wait'
    r, = exec_par([cmd], timeout=0.5, check=False, grace=0.5, log_dir=tmp_path/'logs')
    assert r.timed_out and r.returncode < 0 and r.duration < 30
    for f in ('leader', 'child'): assert not pid_alive(int((tmp_path/f).read_text())), f
    with pytest.raises(CommandsFailed, match='timed out'):
        exec_par(['sleep 60'], timeout=0.2, grace=0.2, log_dir=tmp_path/'logs2')


def test_timeout_escalates_to_sigkill(tmp_path):
    # the shell and its sleep ignore SIGTERM: only the SIGKILL after `grace` ends them
    cmd = f"trap '' TERM; sleep 60 & echo $! > {tmp_path}/child; wait; wait"
    r, = exec_par([cmd], timeout=0.3, check=False, grace=0.3, log_dir=tmp_path/'logs')
    assert r.timed_out and r.returncode == -signal.SIGKILL
    assert not pid_alive(int((tmp_path/'child').read_text()))


def test_sigint_leaves_no_child_alive(tmp_path):
    script = textwrap.dedent(f"""
        import signal; signal.signal(signal.SIGINT, signal.default_int_handler)
        from genomenn.utils import exec_par
        d = {str(tmp_path)!r}
        exec_par([f'echo $$ > {{d}}/leader{{i}}; sleep 60 & echo $! > {{d}}/child{{i}}; wait' for i in range(4)],
                 max_proc=2, log_dir=d + '/logs')
    """)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    proc = subprocess.Popen([PY, '-c', script], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len([p for p in tmp_path.glob('child*') if p.read_text().strip()]) == 2)
        pids = [int(p.read_text()) for p in [*tmp_path.glob('leader*'), *tmp_path.glob('child*')]]
        assert len(pids) == 4 and all(pid_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode != 0 and b'KeyboardInterrupt' in err
    assert [p for p in pids if pid_alive(p)] == []
    assert len(list(tmp_path.glob('leader*'))) == 2   # the queued commands never started


@pytest.mark.parametrize('kw, match', [
    (dict(cmds='true'), 'cmds: expected a list'),
    (dict(cmds=['true', 3]), r'cmds\[1\]'),
    (dict(cmds=[[]]), r'cmds\[0\]'),
    (dict(cmds=['true'], max_proc=0), 'max_proc'),
    (dict(cmds=['true'], timeout=0), 'timeout'),
    (dict(cmds=['true'], cwd='/no/such/folder'), 'cwd'),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match): exec_par(**kw)


def test_empty_list():
    assert exec_par([]) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path/'m.csv'
    atomic_write(p, 'old')
    with pytest.raises(TypeError): atomic_write(p, 12)
    assert p.read_text() == 'old' and [q.name for q in tmp_path.iterdir()] == ['m.csv']


@pytest.mark.parametrize('text, expected', [('a b/c', 'a-b-c'), ('x=1.5', 'x=1.5'), ('..', '_'), ('é', '_')])
def test_safe_filename(text, expected):
    assert safe_filename(text) == expected


def test_verbose_reports_each_command(tmp_path, capsys):
    exec_par(['echo a', 'exit 4'], max_proc=1, verbose=True, check=False, log_dir=tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert '[exec_par] start 1/2: echo a' in out and '[exec_par] start 2/2: exit 4' in out
    assert any(l.startswith('[exec_par] end 2/2: exit 4 in ') and l.endswith(': exit 4') for l in out)


@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_gives_the_umask_permissions(tmp_path, umask, mode):
    "Like any new file (not mkstemp's 0600): a manifest other users may read when the umask allows it."
    old = os.umask(umask)
    try:
        assert new_file_mode() == mode
        p = atomic_write(tmp_path/'manifest.csv', 'a,b\n')
        ref = tmp_path/'plain.csv'; ref.write_text('a,b\n')
    finally: os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == mode == stat.S_IMODE(ref.stat().st_mode)
