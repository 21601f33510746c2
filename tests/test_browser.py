"""The explorers in a real browser: JupyterLab on localhost, headless Chromium (driven by Playwright), a notebook that
shows an `attribution_explorer`; the widget renders, a control changed in the page redraws the plot in the kernel.

Needs Debian's chromium at /usr/bin/chromium (or GENOMENN_CHROMIUM), the playwright Python package (its own browser
download is not used), jupyterlab and the ipywidgets lab extension (jupyterlab_widgets). Skipped when one is missing,
unless GENOMENN_REQUIRE_BROWSER=1 or GENOMENN_REQUIRE_SHARED=1 (as in CI), which make it fail instead.
Nothing outside tmp_path is written: Jupyter's config, data, runtime, settings, workspaces and IPython dirs and the
browser's XDG dirs are temporary, and the server runs in its own process group, shut down by its API and then killed
as a group.
"""
import base64
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, browser_missing, skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 90     # seconds for any one wait (a loaded CI machine); a whole run takes ~10-15 s
EXPLORER = '.genomenn-explorer'
IMG = f'{EXPLORER} .widget-output img'

@pytest.fixture(scope='module', autouse=True)
def _needs_browser():
    miss = browser_missing({'playwright': 'playwright', 'jupyterlab': 'jupyterlab',
                            'jupyterlab_widgets': 'ipywidgets>=8 (jupyterlab_widgets)', 'ipykernel': 'ipykernel',
                            'PIL': 'pillow'})
    if miss: skip_or_fail('browser test needs ' + ', '.join(miss))

NOTEBOOK_CELLS = [
    "import numpy as np\n"
    "from genomenn.widgets import attribution_explorer",
    "rng = np.random.default_rng(0)\n"
    "seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 60))]\n"
    "grads = rng.standard_normal((3, 3, 60, 4)).astype(np.float32)\n"
    "ex = attribution_explorer(grads, seqs, target_names=['alpha', 'beta', 'gamma'], window=(0, 30), "
    "motifs=[[(5, 12)]] * 3)\n"
    "ex",
]

def _write_notebook(path:Path):
    cells = [{'cell_type': 'code', 'execution_count': None, 'id': f'cell{i}', 'metadata': {}, 'outputs': [],
              'source': src}
             for i, src in enumerate(NOTEBOOK_CELLS)]
    nb = {'cells': cells, 'nbformat': 4, 'nbformat_minor': 5,
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3 (ipykernel)', 'language': 'python'},
                       'language_info': {'name': 'python'}}}
    path.write_text(json.dumps(nb, indent=1))

def _free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

class Lab:
    "A JupyterLab server on 127.0.0.1 serving `root`, with every Jupyter/IPython dir under `tmp`."
    def __init__(self, root:Path, tmp:Path):
        self.root, self.tmp, self.token, self.proc = root, tmp, secrets.token_hex(16), None
        cfg = tmp/'config'
        (cfg/'labconfig').mkdir(parents=True)
        # the announcements plugin opens a pop-up ("receive news?") over the notebook
        (cfg/'labconfig'/'page_config.json').write_text(json.dumps(
            {'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
        # the kernel is this interpreter (a python3 kernelspec found first, ahead of any system-wide one)
        kdir = tmp/'data'/'kernels'/'python3'; kdir.mkdir(parents=True)
        (kdir/'kernel.json').write_text(json.dumps({'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f',
                                                             '{connection_file}'],
                                                    'display_name': 'Python 3 (ipykernel)', 'language': 'python'}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(('JUPYTER', 'IPYTHON'))} | {
            'JUPYTER_CONFIG_DIR': str(cfg), 'JUPYTER_DATA_DIR': str(tmp/'data'),
            'JUPYTER_RUNTIME_DIR': str(tmp/'runtime'),
            'JUPYTERLAB_SETTINGS_DIR': str(cfg/'lab'/'user-settings'),
            'JUPYTERLAB_WORKSPACES_DIR': str(cfg/'lab'/'workspaces'),
            'IPYTHONDIR': str(tmp/'ipython'),
            'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH',
                                                                                   '').split(os.pathsep) if p]),
            'TF_CPP_MIN_LOG_LEVEL': '2'}
        self.log = tmp/'lab.log'

    def url(self, path:str)->str: return f'http://127.0.0.1:{self.port}/{path.lstrip("/")}'

    def api(self, path:str, method='GET'):
        req = urllib.request.Request(self.url(path), method=method, headers={'Authorization': f'token {self.token}'},
                                     data=b'' if method == 'POST' else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
            return json.loads(body) if body else None

    def log_tail(self, n=4000)->str:
        return self.log.read_text(errors='replace')[-n:] if self.log.exists() else ''

    def start(self):
        for attempt in range(3):      # the port can be taken between choosing it and the server binding it
            self.port = _free_port()
            cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={self.port}',
                   '--port-retries=0', f'--IdentityProvider.token={self.token}', '--allow-root',
                   '--LabApp.news_url=None', '--LabApp.extension_manager=readonly',
                   '--LabApp.expose_app_in_browser=True',
                   f'--ServerApp.root_dir={self.root}']
            with open(self.log, 'ab') as log:
                self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try: self.api('api/status'); return self
                except (urllib.error.URLError, OSError, ValueError): time.sleep(0.2)
            self.stop()
        raise RuntimeError(f'jupyter lab did not start; its log ends with:\n{self.log_tail()}')

    def stop(self):
        if self.proc is None: return
        if self.proc.poll() is None:
            try: self.api('api/shutdown', method='POST')
            except (urllib.error.URLError, OSError, ValueError): pass
            try: self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired: pass
        for sig in (signal.SIGTERM, signal.SIGKILL):     # kernels and anything else left in the server's group
            try: os.killpg(self.proc.pid, sig)
            except ProcessLookupError: break
            time.sleep(0.5)
        self.proc.wait(timeout=10)
        self.proc = None

@pytest.fixture
def lab(tmp_path):
    root = tmp_path/'nb'; root.mkdir()
    _write_notebook(root/'explorer.ipynb')
    lab = Lab(root, tmp_path).start()
    try: yield lab
    finally: lab.stop()

def _wait(cond, what:str, lab:Lab, timeout=TIMEOUT, every=0.2):
    "Poll `cond()` until it returns something truthy; fail naming `what` (with the server log) on timeout."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v: return v
        time.sleep(every)
    pytest.fail(f'timed out after {timeout} s waiting for {what}; server log ends with:\n{lab.log_tail()}')

def _kernel_idle(lab:Lab):
    "The notebook's kernel exists, is idle and has a connection (the page's websocket)."
    try: ks = lab.api('api/kernels')
    except (urllib.error.URLError, OSError, ValueError): return False
    return len(ks) == 1 and ks[0]['execution_state'] == 'idle' and ks[0]['connections'] >= 1

KERNEL_PRINT = """async (code) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const future = panel.sessionContext.session.kernel.requestExecute({code});
  let text = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') text += msg.content.text;
    if (msg.header.msg_type === 'error') text += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return text;
}"""

def _png(src:str)->bytes:
    assert src.startswith('data:image/png;base64,'), src[:80]
    return base64.b64decode(src.split(',', 1)[1])

def test_explorer_in_jupyterlab(lab):
    from PIL import Image
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # chromium keeps crash reports and a dconf cache under XDG dirs: those go under tmp_path too
        xdg = {f'XDG_{k}_HOME': str(lab.tmp/'xdg'/k.lower()) for k in ('CONFIG', 'CACHE', 'DATA')}
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=os.environ | xdg)
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 2000})   # tall: the lab scrolls inside a panel
            page.set_default_timeout(TIMEOUT * 1000)
            page.goto(lab.url(f'lab/tree/explorer.ipynb?token={lab.token}'))
            # the execution indicator says idle before the kernel exists, and a run-all sent then is dropped:
            # wait for the status bar's "... | Idle" AND the server's view of a connected idle kernel
            page.wait_for_function("() => /\\|\\s*Idle/"
                                   ".test(document.querySelector('.jp-StatusBar-Widget')?.innerText || '')")
            _wait(lambda: _kernel_idle(lab), 'an idle, connected kernel', lab)
            plugin = '@jupyterlab/apputils-extension:announcements'
            assert not page.evaluate(f"() => window.jupyterapp.hasPlugin('{plugin}')")
            page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")

            # the widget is rendered: its dropdowns, the window slider and an image in its Output
            try: page.wait_for_selector(IMG, state='visible')
            except PlaywrightTimeout:
                outs = page.locator('.jp-OutputArea-output').all_inner_texts()
                pytest.fail(f'no explorer image appeared; cell outputs: {outs}; '
                            f'server log ends with:\n{lab.log_tail()}')
            selects = page.locator(f'{EXPLORER} .widget-dropdown select')
            assert selects.count() == 2                                          # target, sequence
            assert page.locator(f'{EXPLORER} .widget-hslider').count() == 1      # window (IntRangeSlider)
            assert selects.nth(0).evaluate('s => [...s.options].map(o => o.text)') == ['alpha', 'beta', 'gamma']
            before = page.locator(IMG).get_attribute('src')
            png0 = _png(before)
            assert Image.open(io.BytesIO(png0)).size[0] > 300

            # change the target in the page: the kernel redraws, the image in the page changes
            selects.nth(0).select_option(label='beta')
            page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); return i && "
                                   "i.src !== old; }",
                                   arg=[IMG, before])
            png1 = _png(page.locator(IMG).get_attribute('src'))
            assert png1 != png0 and Image.open(io.BytesIO(png1)).size[0] > 300
            # the kernel's explorer saw the change and drew the new target
            # (asked through the page's own kernel connection)
            state = page.evaluate(KERNEL_PRINT,
                                  "print(ex.controls['target'].value, ex.redraws, "
                                  "ex.figure.axes[0].get_title(), sep='|')")
            assert state.strip() == '1|2|seq 0 | beta | 0-30', state
            assert page.locator(f'{EXPLORER} .genomenn-status').inner_text().strip() == ''     # no error shown
        finally:
            browser.close()
