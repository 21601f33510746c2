"""Did a change make genomenn's hot paths slower? `gradients` (plain and rc + shift ensemble) and `ism` of this tree
timed against the same calls in another git revision, in alternating fresh processes (so both see the same load).

    python benchmarks/revisions.py --base 5ad0094 --rounds 5

The other revision's `genomenn/` is exported with `git archive` into a temporary folder; each process builds the same
seeded model (2,048 bp, conv tower, 16 softplus targets, P = 64), warms up (tracing), then takes the best of `--reps`
timed calls. The report gives each tree's median over the rounds and the ratio this tree / base (< 1: faster).
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

WORKER = r'''
import json, sys
import numpy as np, keras
from keras import layers as kl
from genomenn.gradients import gradients
from genomenn.ism import ism
reps = int(sys.argv[1]); sys.path.insert(0, sys.argv[2])   # benchmarks/, for timing.best
from timing import best
keras.utils.set_random_seed(0)
x = keras.Input((2048, 4)); h = x
for w, pool in ((15, 2), (5, 4), (5, 4)):
    h = kl.Conv1D(64, w, padding='same', activation='gelu')(h); h = kl.MaxPooling1D(pool)(h)
model = keras.Model(x, kl.Dense(16, activation='softplus')(h))
X = np.eye(4, dtype='float32')[np.random.default_rng(0).integers(0, 4, (8, 2048))]
calls = {'gradients plain': lambda: gradients(model, X, verbose=False),
         'gradients rc+shifts': lambda: gradients(model, X, rc=True, shifts=(-1, 0, 1), verbose=False),
         'ism (2 x 256 bp window)': lambda: ism(model, X[:2], window=(896, 1152), verbose=False)}
out = {}
for name, f in calls.items():
    f()                                        # tracing and the first-call checks
    out[name] = best(f, reps)
print(json.dumps(out))
'''


def export_tree(rev:str, dest:Path)->Path:
    "genomenn/ of git revision `rev`, unpacked under `dest`."
    tar = dest/'tree.tar'
    subprocess.run(['git', '-C', str(ROOT), 'archive', '-o', str(tar), rev, 'genomenn'], check=True)
    with tarfile.open(tar) as t: t.extractall(dest, filter='data')
    return dest


def run_worker(tree:Path, reps:int)->dict:
    "Best times (s) of each call, measured in a fresh process importing genomenn from `tree`."
    env = {**os.environ, 'PYTHONPATH': str(tree), 'TF_CPP_MIN_LOG_LEVEL': '2'}
    r = subprocess.run([sys.executable, '-c', WORKER, str(reps), str(ROOT/'benchmarks')], capture_output=True,
                       text=True, env=env, cwd=tempfile.gettempdir())
    if r.returncode: raise RuntimeError(f'worker on {tree} failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--base', required=True, help='git revision to compare with (e.g. a commit before a refactor)')
    ap.add_argument('--rounds', type=int, default=5, help='alternating process pairs (default 5)')
    ap.add_argument('--reps', type=int, default=3, help='timed calls per process, best taken (default 3)')
    ap.add_argument('--json', help='write the figures here')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {'base': export_tree(a.base, Path(tmp)), 'this tree': ROOT}
        got = {k: [] for k in trees}
        for i in range(a.rounds):
            for k, tree in (trees.items() if i % 2 == 0 else reversed(trees.items())):   # alternate who goes first
                got[k].append(run_worker(tree, a.reps))
    med = {k: {c: float(np.median([r[c] for r in rs])) for c in rs[0]} for k, rs in got.items()}
    print(f"{'call':28s} {'base ' + a.base:>18s} {'this tree':>12s} {'ratio':>7s}")
    for c in med['base']:
        print(f"{c:28s} {med['base'][c]*1e3:15.1f} ms {med['this tree'][c]*1e3:9.1f} ms "
              f"{med['this tree'][c]/med['base'][c]:7.2f}")
    if a.json: Path(a.json).write_text(json.dumps({'base': a.base, 'median_s': med, 'runs': got}, indent=1))


if __name__ == '__main__':
    main()
