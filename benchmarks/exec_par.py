"""exec_par and run_notebooks against their baselines, in one run; prints times and ratios.

1. 200 instant shell commands (`true`), two at a time: genomenn's exec_par, `xargs -P 2` running the same
   `sh -c CMD`, and a sleep(1)-polling loop of the kind Basenji's exec_par uses.
2. 8 runs of nbs/pipelines/example.ipynb: `genomenn batch -j 2` versus 8 sequential `papermill` calls, and
   run_notebooks(max_proc=2) versus a loop of papermill.execute_notebook in one process.

usage: python benchmarks/exec_par.py [--n 200] [--repeats 5] [--notebooks 8] [--seconds 0] [--skip-polling]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from genomenn.utils import exec_par

from timing import median_time

EXAMPLE = ROOT/'nbs'/'pipelines'/'example.ipynb'
ENV = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}


def polling_exec_par(cmds, max_proc):
    "Baseline: start up to max_proc commands, check them with poll(), sleep 1 s whenever none has finished."
    pending, running = list(cmds), []
    while pending or running:
        while pending and len(running) < max_proc:
            running.append(subprocess.Popen(pending.pop(0), shell=True))
        still = [p for p in running if p.poll() is None]
        if len(still) == len(running): time.sleep(1)
        running = still


def xargs(cmds, max_proc):
    subprocess.run(['xargs', '-P', str(max_proc), '-I{}', 'sh', '-c', '{}'], input='\n'.join(cmds) + '\n',
                   text=True, check=True)


def bench_commands(n, repeats, skip_polling):
    cmds, logs = ['true'] * n, tempfile.mkdtemp(prefix='bench-exec-')
    t_ours = median_time(lambda: exec_par(cmds, max_proc=2, log_dir=logs), repeats)
    t_xargs = median_time(lambda: xargs(cmds, 2), repeats)
    print(f'{n} x `true`, max_proc=2 (median of {repeats})')
    print(f'  genomenn exec_par : {t_ours:8.3f} s')
    print(f'  xargs -P 2        : {t_xargs:8.3f} s   exec_par / xargs = {t_ours / t_xargs:.2f}x (goal <= 3x)')
    if not skip_polling:
        t_poll = median_time(lambda: polling_exec_par(cmds, 2))
        print(f'  sleep(1) polling  : {t_poll:8.3f} s   polling / exec_par = {t_poll / t_ours:.0f}x (goal >= 20x)')


def bench_notebooks(k, seconds):
    import papermill as pm

    from genomenn.batch import run_notebooks
    tmp = Path(tempfile.mkdtemp(prefix='bench-nb-'))
    def papermill_cli():
        for i in range(k):
            subprocess.run([sys.executable, '-m', 'papermill', '--no-progress-bar', '-p', 'a', str(i), '-p', 'seconds',
                            str(seconds),
                            str(EXAMPLE), str(tmp/f'cli{i}.ipynb')], check=True, env=ENV, capture_output=True)
    def papermill_loop():
        for i in range(k):
            pm.execute_notebook(str(EXAMPLE), str(tmp/f'loop{i}.ipynb'), parameters=dict(a=i, seconds=seconds),
                                progress_bar=False)
    def genomenn_cli():
        subprocess.run([sys.executable, '-m', 'genomenn.cli', 'batch', str(EXAMPLE), '-p',
                        f'a={",".join(map(str, range(k)))}',
                        '-p', f'seconds={seconds}', '-o', str(tmp/'cli'), '-j', '2', '-q'], check=True, env=ENV,
                       capture_output=True)
    def genomenn_api():
        df = run_notebooks(EXAMPLE, {'a': list(range(k)), 'seconds': [seconds]}, tmp/'api', max_proc=2, progress=False)
        assert (df.status == 'completed').all()
    t_cli, t_loop = median_time(papermill_cli), median_time(papermill_loop)
    t_gcli, t_api = median_time(genomenn_cli), median_time(genomenn_api)
    print(f'{k} runs of example.ipynb (seconds={seconds})')
    print(f'  papermill CLI, one after another : {t_cli:7.2f} s')
    print(f'  genomenn batch -j 2 (CLI)         : {t_gcli:7.2f} s   speed-up {t_cli / t_gcli:.2f}x (goal >= 1.6x)')
    print(f'  papermill.execute_notebook loop   : {t_loop:7.2f} s')
    print(f'  run_notebooks(max_proc=2)         : {t_api:7.2f} s   speed-up {t_loop / t_api:.2f}x')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=200); ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--notebooks', type=int, default=8); ap.add_argument('--seconds', type=float, default=0.0)
    ap.add_argument('--skip-polling', action='store_true'); ap.add_argument('--skip-notebooks', action='store_true')
    a = ap.parse_args()
    print(f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}')
    bench_commands(a.n, a.repeats, a.skip_polling)
    if not a.skip_notebooks: bench_notebooks(a.notebooks, a.seconds)
