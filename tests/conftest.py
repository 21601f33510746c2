"""Shared fixtures: the real files in ../shared/data (skipped when absent, required in CI)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get('GENOMENN_SHARED', ROOT.parent/'shared')).resolve()
REQUIRE = os.environ.get('GENOMENN_REQUIRE_SHARED', '') not in ('', '0')

def shared_path(*parts) -> Path:
    "Path inside ../shared/data; skip (or fail when GENOMENN_REQUIRE_SHARED=1) if it is absent."
    p = SHARED.joinpath('data', *parts)
    if not p.exists():
        msg = f'shared data not found: {p} (set GENOMENN_SHARED to the folder holding data/)'
        if REQUIRE: pytest.fail(msg + ' and GENOMENN_REQUIRE_SHARED=1 requires it')
        pytest.skip(msg)
    return p

@pytest.fixture
def shared_data() -> Path:
    "The ../shared/data folder."
    return shared_path()

def run(args, pythonpath=ROOT, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    "Run a command as a user would, with `pythonpath` (default: this checkout) first on PYTHONPATH."
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2',
           'PYTHONPATH': os.pathsep.join([str(pythonpath), os.environ.get('PYTHONPATH', '')])}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)

@pytest.fixture
def umask027():
    "Run the test under umask 0o027 (the old umask restored after); yields the mode a new file then gets, 0o640."
    old = os.umask(0o027)
    try: yield 0o640
    finally: os.umask(old)

def file_modes(folder) -> dict:
    "Relative path -> permission bits of everything under `folder`, hidden (temporary) files included."
    return {p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in sorted(Path(folder).rglob('*'))}
