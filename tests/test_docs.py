"""The documentation site (.ci/docs): every public name has an API reference entry, the pages need no network, and in
headless Chromium (driven by Playwright, as tests/test_browser.py does it) the home page and a module page render with
their figures, their same-site links resolve and search finds a function.

The site is the one in GENOMENN_DOCS_SITE when that is set (a folder written by `.ci/docs`); otherwise a small one is
built into tmp_path: the README, one executed module notebook (05_plots: figures) and the complete API reference
(~1 min).
The browser test needs Debian's chromium at /usr/bin/chromium (or GENOMENN_CHROMIUM) and the playwright package (its
own browser download is not used); it is skipped when one is missing, unless GENOMENN_REQUIRE_BROWSER=1 or
GENOMENN_REQUIRE_SHARED=1 (as in CI), which make it fail instead.
"""
import ast
import fcntl
import functools
import http.server
import importlib.util
import os
import re
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, browser_missing, skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 90          # seconds for any one wait in the browser
MODULE_NB = '05_plots'  # the module page opened in the browser (it has figures)
SEARCH_FOR = 'jointplot'

def public_names()->dict:
    "{module: its `__all__`} for every module a notebook exports (read from genomenn/<module>.py without importing it)."
    out = {}
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        m = re.search(r'#\|\s*default_exp\s+(\w+)', nb.read_text())
        if not m: continue
        tree = ast.parse((ROOT/'genomenn'/f'{m.group(1)}.py').read_text())
        alls = [n.value for n in tree.body
                if isinstance(n, ast.Assign) and any(getattr(t, 'id', '') == '__all__' for t in n.targets)]
        out[m.group(1)] = ast.literal_eval(alls[0]) if alls else []
    return out

@pytest.fixture(scope='module')
def site(tmp_path_factory)->Path:
    "The built site: GENOMENN_DOCS_SITE, or a small one built now."
    given = os.environ.get('GENOMENN_DOCS_SITE')
    if given:
        p = Path(given)
        assert (p/'index.html').is_file(), f'GENOMENN_DOCS_SITE={given} holds no index.html (build it with .ci/docs)'
        return p
    if importlib.util.find_spec('mkdocs') is None or importlib.util.find_spec('material') is None:
        skip_or_fail('the docs test needs mkdocs and mkdocs-material (pip install -e ".[dev]")')
    # one build for the whole run: under pytest-xdist the workers share the folder above their own, and a lock
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'): root = root.parent
    out = root/'docs-site'
    with open(root/'docs-site.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out/'index.html').is_file():
            env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2',
                   'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
            r = subprocess.run([str(ROOT/'.ci'/'docs'), str(out), '--only', MODULE_NB], capture_output=True, text=True,
                               env=env, timeout=900)
            assert r.returncode == 0, f'.ci/docs failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    return out

def test_api_reference_has_every_public_name(site):
    "Each module's API page has an entry (an element with the name as id) for every name in its `__all__`."
    names = public_names()
    assert len(names) > 15 and sum(map(len, names.values())) > 100
    missing = {}
    for mod, alls in names.items():
        page = site/'api'/f'{mod}.html'
        assert page.is_file(), f'no API reference page for genomenn.{mod} ({page})'
        ids = set(re.findall(r'\bid="([^"]+)"', page.read_text()))
        if miss := [n for n in alls if n not in ids]: missing[mod] = miss
    assert not missing, f'public names without an API reference entry: {missing}'

def test_api_entry_shows_signature_and_comments(site):
    "An entry shows the parameters with their types, defaults and docments comments."
    text = (site/'api'/'plots.html').read_text()
    entry = text[text.index('id="jointplot"'):]
    entry = re.sub(r'<[^>]+>', '', entry[:entry.index('id="regplot"')])
    for s in ('outlier_low', 'percentile: drop pairs with x or y below', "'pearsonr'", 'JointGrid'):
        assert s in entry, f'{s!r} not in the jointplot entry'

def test_site_needs_no_network(site):
    "No page loads a script, stylesheet, font or image from another host (the site is read offline)."
    ext = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.I)
    bad = [str(p.relative_to(site)) for p in site.rglob('*.html') if ext.search(p.read_text())]
    assert not bad, f'pages that load assets from the network: {bad}'
    assert (site/'search'/'search_index.json').is_file()

# ---------------------------------------------------------------------------------------------------- in a browser
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def server(site):
    "The site on http://127.0.0.1:<free port>/."
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True); t.start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    finally: httpd.shutdown(); httpd.server_close(); t.join(10)

@pytest.fixture(scope='module')
def browser(site, tmp_path_factory):
    miss = browser_missing({'playwright': 'playwright'})
    if miss: skip_or_fail('the docs browser test needs ' + ', '.join(miss))
    from playwright.sync_api import sync_playwright
    tmp = tmp_path_factory.mktemp('xdg')
    xdg = {f'XDG_{k}_HOME': str(tmp/k.lower()) for k in ('CONFIG', 'CACHE', 'DATA')}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=os.environ | xdg)
        try: yield b
        finally: b.close()

def _open(browser, url:str):
    "A page at `url` whose requests to other hosts are refused (and recorded) and whose failed responses are recorded."
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.set_default_timeout(TIMEOUT * 1000)
    page.external, page.failed = [], []
    host = urlparse(url).netloc
    def route(r):
        if urlparse(r.request.url).netloc == host or r.request.url.startswith('data:'): r.continue_()
        else: page.external.append(r.request.url); r.abort()
    page.route('**/*', route)
    page.on('response', lambda resp: resp.status >= 400 and page.failed.append(f'{resp.status} {resp.url}'))
    page.goto(url, wait_until='load')
    return page

def _check_links(page, base:str)->int:
    "Every same-site link on the page answers 200, and its #fragment names an element of the target page."
    hrefs = sorted(set(page.eval_on_selector_all('a[href]', 'els => els.map(e => e.href)')))
    ours = [h for h in hrefs if h.startswith(base)]
    bad, texts = [], {}
    for h in ours:
        url, frag = urldefrag(h)
        try:
            if url not in texts:
                with urllib.request.urlopen(url, timeout=10) as r: texts[url] = r.read().decode('utf-8', 'replace')
        except urllib.error.HTTPError as e: bad.append(f'{e.code} {h}'); continue
        if frag and url.endswith('.html') and f'id="{frag}"' not in texts[url]: bad.append(f'no #{frag} in {url}')
    assert not bad, f'broken same-site links on {page.url}: {bad}'
    return len(ours)

def _figures(page)->list:
    return page.eval_on_selector_all('.md-content img',
                                     'els => els.map(i => [i.getAttribute("src"), i.complete, i.naturalWidth])')

def test_home_and_module_page_in_chromium(browser, server):
    home = _open(browser, server + 'index.html')
    try:
        assert 'genomenn' in home.title()
        assert home.locator('.md-content h1').first.inner_text().strip().rstrip('¶') == 'genomenn'
        assert home.locator('.md-nav__link', has_text='plots').count() >= 1  # module pages are in the navigation
        imgs = _figures(home)
        assert all(w > 0 for _, _, w in imgs), f'images that did not load on the home page: {imgs}'
        assert _check_links(home, server) > 10
        assert not home.external, f'the home page asked for other hosts: {home.external}'
        assert not home.failed, f'failed requests on the home page: {home.failed}'
    finally: home.close()

    page = _open(browser, server + f'{MODULE_NB}.html')
    try:
        page.wait_for_function("() => [...document.querySelectorAll('.md-content img')].every(i => i.complete)")
        imgs = _figures(page)
        assert len(imgs) >= 3, f'expected the notebook\'s figures on {MODULE_NB}.html, found {imgs}'
        bad = [s for s, done, w in imgs if not (done and w > 0)]
        assert not bad, f'figures that did not load: {bad}'
        assert page.locator('.nb-outputs').count() >= 3                                # cell outputs are shown
        assert page.locator('.md-content a[href^="api/plots.html"]').count() >= 1      # prose links into the reference
        assert _check_links(page, server) > 10
        assert not page.external, f'the module page asked for other hosts: {page.external}'
        assert not page.failed, f'failed requests on the module page: {page.failed}'
    finally: page.close()

def test_search_finds_a_function(browser, server):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    page = _open(browser, server + 'index.html')
    try:
        box = page.locator('input.md-search__input')
        box.click()
        # the index loads in a web worker: until it is ready the result list says "Initializing search"
        page.wait_for_function("() => { const m = document.querySelector('.md-search-result__meta');"
                               " return m && m.innerText.trim() && !/initializ/i.test(m.innerText); }")
        box.press_sequentially(SEARCH_FOR, delay=20)     # typed: material searches on key events
        # material links a hit as `page.html?h=<query>#anchor`; the reference entry is api/plots.html?h=...#jointplot
        # (it may sit folded under "more results on this page": attached is enough, the link is followed below)
        hit = page.locator(f'.md-search-result__item a[href*="api/plots.html"][href$="#{SEARCH_FOR}"]').first
        try: hit.wait_for(state='attached')
        except PlaywrightTimeout:
            found = page.eval_on_selector_all('.md-search-result__item a',
                                              'els => els.map(e => e.getAttribute("href"))')
            meta = page.locator('.md-search-result__meta').inner_text()
            pytest.fail(f'search for {SEARCH_FOR!r} did not find api/plots.html#{SEARCH_FOR}; it says {meta!r}, '
                        f'links {found}; failed requests {page.failed}')
        assert SEARCH_FOR in hit.text_content()
        page.goto(hit.evaluate('a => a.href'))
        page.wait_for_url(re.compile(r'api/plots\.html'))
        assert page.locator(f'#{SEARCH_FOR}').count() == 1
    finally: page.close()
