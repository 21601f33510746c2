"""Shared fixtures: the real files in ../shared/data (skipped when absent, required in CI), and commands run as a
user would. Small test inputs (one-hot sequences, toy models, tiny data directories) are in helpers.py."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get('GENOMENN_SHARED', ROOT.parent/'shared')).resolve()
REQUIRE = os.environ.get('GENOMENN_REQUIRE_SHARED', '') not in ('', '0')
# The browser tests (test_browser, test_docs): Debian's chromium driven by playwright (its own browser download unused)
CHROMIUM = os.environ.get('GENOMENN_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
                 '--disable-component-update', '--no-first-run']
REQUIRE_BROWSER = REQUIRE or os.environ.get('GENOMENN_REQUIRE_BROWSER', '') not in ('', '0')

def shared_path(*parts) -> Path:
    "Path inside ../shared/data; skip (or fail when GENOMENN_REQUIRE_SHARED=1) if it is absent."
    p = SHARED.joinpath('data', *parts)
    if not p.exists():
        msg = f'shared data not found: {p} (set GENOMENN_SHARED to the folder holding data/)'
        if REQUIRE: pytest.fail(msg + ' and GENOMENN_REQUIRE_SHARED=1 requires it')
        pytest.skip(msg)
    return p

def skip_or_fail(msg:str):
    "Skip with `msg`, or fail when GENOMENN_REQUIRE_BROWSER=1 or GENOMENN_REQUIRE_SHARED=1 (as in CI) require it."
    if REQUIRE_BROWSER: pytest.fail(msg + ' (GENOMENN_REQUIRE_BROWSER/GENOMENN_REQUIRE_SHARED is set)')
    pytest.skip(msg)

def browser_missing(packages:dict)->list:
    "What a browser test needs and cannot find: chromium, and the python modules of `packages` ({module: package})."
    miss = [] if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK) else \
        [f'chromium at {CHROMIUM} (apt-get install chromium)']
    return miss + [f'python package {pkg}' for mod, pkg in packages.items() if importlib.util.find_spec(mod) is None]

@pytest.fixture
def shared_data() -> Path:
    "The ../shared/data folder."
    return shared_path()

def run(args, pythonpath=ROOT, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    "Run a command as a user would, with `pythonpath` (default: this checkout) first on PYTHONPATH."
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2',
           'PYTHONPATH': os.pathsep.join([str(pythonpath), os.environ.get('PYTHONPATH', '')])}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)

def run_cli(*args, pythonpath=ROOT, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    "Run `python -m genomenn.cli ARGS` as a user would (see `run`); the finished process."
    return run([sys.executable, '-m', 'genomenn.cli', *args], pythonpath=pythonpath, cwd=cwd, timeout=timeout)

@pytest.fixture
def umask027():
    "Run the test under umask 0o027 (the old umask restored after); yields the mode a new file then gets, 0o640."
    old = os.umask(0o027)
    try: yield 0o640
    finally: os.umask(old)
