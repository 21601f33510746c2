"""Build the documentation site: the module notebooks executed (with their outputs and figures), the README as home
page, an API reference of every public name, and search, as a static mkdocs-material site that needs no network.

Usage: python .ci/docs.py OUT_DIR [--only NB ...] [--workers N] [--no-exec] [--keep DIR]

Steps: (1) each module notebook (nbs/*.ipynb but index and the scratch `_*.ipynb`) is executed in its own process with
execnb, as `nbdev_test` runs it (cells flagged `#| slow` or `#| eval: false` are not run); (2) each becomes a Markdown
page: prose as written, code with its outputs (figures as PNG/SVG files beside the page), `#| hide` cells left out,
the source of exported cells folded under the reference entry of what they define; (3) an API reference page per module
is written from the signatures and the parameter comments (nbdev's docments) of every name in its `__all__`;
(4) `mkdocs build --strict` (broken links fail the build) writes the site with `use_directory_urls: false`, so it can be
read from the files or from any static server.
"""
import argparse
import ast
import base64
import html
import importlib
import inspect
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
SKIP_FLAGS = {'slow'}
DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+:?)\s*(.*?)\s*$')
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')

# ---------------------------------------------------------------------------------------------------- notebooks
def module_notebooks(only=None)->list:
    "The notebooks that document a module: nbs/*.ipynb except index.ipynb and scratch `_*.ipynb` (or those in `only`)."
    nbs = [p for p in sorted(NBS.glob('*.ipynb')) if p.name != 'index.ipynb' and not p.name.startswith('_')]
    if only:
        want = {Path(o).stem for o in only}
        nbs = [p for p in nbs if p.stem in want]
        if len(nbs) != len(want):
            sys.exit(f'--only: no module notebook named {sorted(want - {p.stem for p in nbs})} in {NBS}')
    return nbs

def directives(src:str)->dict:
    "The `#| key value` lines at the top of a cell, as {key: value}."
    out = {}
    for line in src.splitlines():
        if not line.strip(): continue
        m = DIRECTIVE.match(line)
        if not m: break
        out[m.group(1).rstrip(':')] = m.group(2)
    return out

def strip_directives(src:str)->str:
    "The cell's source without its `#|` lines."
    return '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip('\n')

def not_run(cell)->bool:
    "Cells `nbdev_test` does not run: markdown, `#| eval: false`, flagged `#| slow`, `nbdev_export()`."
    if cell.cell_type != 'code': return True
    d = directives(cell.source)
    return d.get('eval', '').lower() == 'false' or bool(SKIP_FLAGS & d.keys()) or 'nbdev_export(' in cell.source

def execute(src:str, dest:str)->tuple:
    "Run notebook `src` as nbdev_test does (in its folder, stop at the first error); write it with outputs to `dest`."
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ.setdefault('MPLBACKEND', 'agg')
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    src, t0 = Path(src), time.perf_counter()
    log = Path(dest).with_suffix('.log')      # TensorFlow's C++ start-up lines go here, shown only on failure
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.dup2(fd, 2); os.close(fd)
    nb = read_nb(src)
    shell = CaptureShell(src)
    try:
        with working_directory(src.parent): shell.run_all(nb, exc_stop=True, preproc=not_run)
    except Exception:
        err = shell.prettytb(fname=src) + '\n-- stderr:\n' + log.read_text()[-3000:]
        return src.name, time.perf_counter() - t0, err
    write_nb(nb, dest)
    return src.name, time.perf_counter() - t0, None

def execute_all(nbs:list, dest:Path, workers:int):
    "Execute `nbs` in parallel (a fresh process per notebook), writing each into `dest`; exit naming the failures."
    dest.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context('spawn')
    failed = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1) as ex:
        futs = [ex.submit(execute, str(nb), str(dest/nb.name)) for nb in nbs]
        for f in futs:
            name, secs, err = f.result()
            print(f'  executed {name} in {secs:.1f} s' + (' FAILED' if err else ''), flush=True)
            if err: failed.append((name, err))
    for name, err in failed: print(f'\n== {name} failed:\n{err}', file=sys.stderr)
    if failed: sys.exit(f'docs: {len(failed)} notebook(s) failed to execute: {", ".join(n for n, _ in failed)}')

# ---------------------------------------------------------------------------------------------------- API reference
def fmt_anno(a)->str:
    "An annotation as written in code."
    if a is inspect.Parameter.empty: return ''
    if isinstance(a, str): return a
    return inspect.formatannotation(a).replace('NoneType', 'None')

def cell_text(s)->str:
    "Text safe inside a Markdown table cell."
    return html.escape(str(s), quote=False).replace('|', '\\|').replace('\n', ' ')

def cell_code(s)->str:
    "Inline code safe inside a Markdown table cell (a backslash-escaped `|` would show inside backticks)."
    return '<code>' + html.escape(str(s), quote=False).replace('|', '&#124;').replace('\n', ' ') + '</code>'

def signature(obj):
    try: return inspect.signature(obj)
    except (TypeError, ValueError): return None

def param_table(obj)->str:
    "A Markdown table of `obj`'s parameters: name, type, default and its docments comment."
    from fastcore.docments import docments
    try: docs = docments(obj, full=True)
    except Exception: docs = {}
    sig = signature(obj)
    if sig is None: return ''
    for name, p in sig.parameters.items():       # fastcore gives a `**kwargs, # comment` line's comment to `return`
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not (docs.get(name) or {}).get('docment'):
            c = star_comment(obj, name)
            if c:
                docs[name] = {'docment': c}
                if (docs.get('return') or {}).get('docment') == c: docs['return'] = {**docs['return'], 'docment': None}
    rows = []
    for name, p in sig.parameters.items():
        if name in ('self', 'cls'): continue
        d = docs.get(name) or {}
        star = {p.VAR_POSITIONAL: '*', p.VAR_KEYWORD: '**'}.get(p.kind, '')
        default = '' if p.default is p.empty else cell_code(repr(p.default))
        anno = cell_code(fmt_anno(p.annotation)) if p.annotation is not p.empty else ''
        rows.append(f'| {cell_code(star + name)} | {anno} | {default} | {cell_text(d.get("docment") or "")} |')
    ret = docs.get('return') or {}
    if sig.return_annotation is not sig.empty or ret.get('docment'):
        anno = cell_code(fmt_anno(sig.return_annotation)) if sig.return_annotation is not sig.empty else ''
        rows.append(f'| **returns** | {anno} | | {cell_text(ret.get("docment") or "")} |')
    if not rows: return ''
    return '| Parameter | Type | Default | Details |\n|---|---|---|---|\n' + '\n'.join(rows) + '\n'

def star_comment(obj, name:str)->str|None:
    "The comment on the `*name`/`**name` line of `obj`'s signature in its source."
    try: src = inspect.getsource(obj)
    except (OSError, TypeError): return None
    m = re.search(r'^[^#\n]*\*{1,2}' + re.escape(name) + r'\b[^#\n]*#\s*(.+)$', src, re.M)
    return m.group(1).strip() if m else None

def sig_line(name:str, obj)->str:
    "`name(params) -> ret` on one or several lines (a code block)."
    sig = signature(obj)
    if sig is None: return f'```python\n{name}\n```\n'
    params = [str(p).replace('NoneType', 'None') for n, p in sig.parameters.items() if n not in ('self', 'cls')]
    ret = '' if sig.return_annotation is sig.empty else f' -> {fmt_anno(sig.return_annotation)}'
    one = f'{name}({", ".join(params)}){ret}'
    if len(one) <= 100: return f'```python\n{one}\n```\n'
    body = ''.join(f'    {p},\n' for p in params)
    return f'```python\n{name}(\n{body}){ret}\n```\n'

def first_doc(obj)->str:
    doc = inspect.getdoc(obj) or ''
    return doc.strip()

def kind_of(obj)->str:
    if inspect.isclass(obj): return 'class'
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj): return 'function'
    if callable(obj): return 'callable'
    return 'constant'

def own_methods(cls)->list:
    "Public methods and properties defined in `cls` itself (in definition order)."
    out = []
    for k, v in vars(cls).items():
        if k.startswith('_'): continue
        f = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
        if inspect.isfunction(f) or isinstance(v, property): out.append((k, v, f))
    return out

def entry(name:str, obj, module:str, level:int=3, anchor:bool=True)->str:
    "The reference entry of public `name` of `module`: heading, signature, docstring, parameter table (and methods)."
    kind = kind_of(obj)
    hid = f' {{ #{name} }}' if anchor else ''
    out = [f'{"#" * level} `{name}`{hid}\n']
    home = getattr(obj, '__module__', None) if kind != 'constant' else None
    if home and home.startswith('genomenn.') and home != module and home.split('.')[-1] in API_MODULES:
        out.append(f'*{kind}*, defined in [`{home}`]({home.split(".")[-1]}.md#{name}).\n')
        return '\n'.join(out) + '\n'
    if kind == 'constant':
        r = repr(obj)
        if len(r) > 300: r = r[:300] + ' ...'
        out.append(f'```python\n{name}: {type(obj).__name__} = {r}\n```\n')
        return '\n'.join(out) + '\n'
    target = obj
    if kind == 'class':
        init = vars(obj).get('__init__')
        if init is None and not any('__init__' in vars(b) for b in obj.__mro__[1:-1]): target = obj
    out.append(f'*{kind}*\n')
    out.append(sig_line(name, target))
    doc = first_doc(obj)
    if doc: out.append(doc + '\n')
    table = param_table(target)
    if table: out.append(table)
    if kind == 'class':
        for k, v, f in own_methods(obj):
            mid = f' {{ #{name}.{k} }}' if anchor else ''
            out.append(f'{"#" * (level + 1)} `{name}.{k}`{mid}\n')
            if isinstance(v, property):
                out.append('*property*\n')
                if first_doc(v): out.append(first_doc(v) + '\n')
                continue
            out.append(sig_line(f'{name}.{k}', f))
            if first_doc(f): out.append(first_doc(f) + '\n')
            t = param_table(f)
            if t: out.append(t)
    return '\n'.join(out) + '\n'

API_MODULES = {}   # module short name -> notebook stem, filled by build()

def module_of(nb:Path):
    "The module a notebook exports (its `#| default_exp`), or None."
    for c in json.loads(nb.read_text())['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
        if m: return m.group(1)
    return None

def api_page(mod:str, nb_stem:str)->str:
    "The API reference page of `genomenn.<mod>`: an entry for every name in its `__all__`."
    m = importlib.import_module(f'genomenn.{mod}')
    names = list(getattr(m, '__all__', []))
    head = [f'# genomenn.{mod}\n', f'API reference of `genomenn.{mod}`: every public name (its `__all__`), '
            f'from the signatures and their parameter comments. The module\'s tutorial, with examples and their '
            f'outputs: [{nb_stem}](../{nb_stem}.md).\n']
    head.append(' · '.join(f'[`{n}`](#{n})' for n in names) + '\n')
    return '\n'.join(head) + '\n' + ''.join(entry(n, getattr(m, n), f'genomenn.{mod}') for n in names)

# ---------------------------------------------------------------------------------------------------- notebook pages
def defined_names(src:str)->list:
    "Top-level names a cell defines (def, class, assignment), in order."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                out += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return out

def only_imports(src:str)->bool:
    "A set-up cell: nothing but imports."
    try: tree = ast.parse(src)
    except SyntaxError: return False
    return bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)

def fold(title:str, body:str, kind='note')->str:
    "A folded (click to open) block holding Markdown `body`."
    return f'??? {kind} "{title}"\n\n' + textwrap.indent(body, '    ') + '\n\n'

def fence(text:str, lang:str='')->str:
    n = max([3] + [len(m) + 1 for m in re.findall(r'`{3,}', text)])
    return f'{"`" * n}{lang}\n{text.rstrip()}\n{"`" * n}\n\n'

class Outputs:
    "Write a cell's outputs as Markdown; figures go into `files_dir` (named after the page)."
    def __init__(self, files_dir:Path, prefix:str):
        self.dir, self.prefix, self.n = files_dir, prefix, 0

    def image(self, data:str, ext:str, meta:dict)->str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n += 1
        fn = f'{self.prefix}_{self.n}.{ext}'
        raw = base64.b64decode(data) if ext == 'png' else data.encode()
        (self.dir/fn).write_bytes(raw)
        width = (meta or {}).get('width')
        attrs = f'{{ width="{int(width)}" }}' if width else ''
        return f'![figure {self.n}]({self.dir.name}/{fn}){attrs}\n\n'

    def render(self, outs:list)->str:
        md = []
        for o in outs:
            t = o.get('output_type')
            if t == 'stream':
                if o.get('name') == 'stderr': continue          # warnings and progress bars: noise on a page
                text = ANSI.sub('', ''.join(o.get('text', '')))
                if text.strip(): md.append(fence(text, 'text'))
            elif t in ('display_data', 'execute_result'):
                d, meta = o.get('data', {}), o.get('metadata', {})
                j = lambda k: ''.join(d[k]) if isinstance(d[k], list) else d[k]
                if 'image/png' in d: md.append(self.image(j('image/png'), 'png', meta.get('image/png')))
                elif 'image/svg+xml' in d: md.append(self.image(j('image/svg+xml'), 'svg', meta.get('image/svg+xml')))
                elif 'application/vnd.jupyter.widget-view+json' in d:
                    md.append('!!! info "Interactive widget"\n    Run the notebook in Jupyter to use this widget.\n\n')
                elif 'text/html' in d:
                    md.append('<div class="nb-output" markdown="0">\n' + j('text/html').strip() + '\n</div>\n\n')
                elif 'text/markdown' in d: md.append(j('text/markdown') + '\n\n')
                elif 'text/plain' in d: md.append(fence(ANSI.sub('', j('text/plain')), 'text'))
            elif t == 'error':
                md.append(fence(ANSI.sub('', '\n'.join(o.get('traceback', []))), 'text'))
        if not md: return ''
        return '<div class="nb-outputs" markdown="1">\n\n' + ''.join(md) + '</div>\n\n'

def nb_title(cells)->str:
    for c in cells:
        if c['cell_type'] == 'markdown':
            m = re.match(r'\s*#\s+(.+)', c['source'])
            if m: return m.group(1).strip()
    return None

def link_names(text:str, names:dict)->str:
    "Turn `name` (a public name of any module) in prose into a link to its reference entry (not inside code blocks)."
    parts = re.split(r'(```.*?```)', text, flags=re.S)
    def sub(m):
        n = m.group(1)
        parts = n.split('.')
        if parts[0] != 'genomenn': tgt = names.get(n)
        elif len(parts) == 1: tgt = None
        elif len(parts) == 2: tgt = f'api/{parts[1]}.md' if parts[1] in API_MODULES else None       # a module
        else: tgt = names.get(parts[-1]) if f'api/{parts[1]}.md#' in names.get(parts[-1], '') else None
        return f'[`{n}`]({tgt})' if tgt else m.group(0)
    code = re.compile(r'(?<![\[\w])`([A-Za-z_][\w.]*)`(?!\])')
    link = lambda line: line if line.lstrip().startswith('#') else code.sub(sub, line)     # headings stay plain
    return ''.join(p if p.startswith('```') else '\n'.join(map(link, p.split('\n'))) for p in parts)

def nb_page(nb_path:Path, out_dir:Path, mod:str, names:dict)->str:
    "Markdown page of executed notebook `nb_path` (a module's tutorial); figures beside it in `out_dir`."
    nb = json.loads(nb_path.read_text())
    cells = nb['cells']
    for c in cells:
        if isinstance(c['source'], list): c['source'] = ''.join(c['source'])
    stem = nb_path.stem
    outs = Outputs(out_dir/f'{stem}_files', 'fig')
    m = importlib.import_module(f'genomenn.{mod}') if mod else None
    public = set(getattr(m, '__all__', [])) if m else set()
    md, titled = [], False
    for c in cells:
        src = c['source']
        if c['cell_type'] == 'markdown':
            text = src
            if not titled and re.match(r'\s*#\s+', text):
                titled = True
                if mod: text += f'\n\n[API reference of `genomenn.{mod}`](api/{mod}.md){{ .md-button }}\n'
            md.append(link_names(text, names) + '\n\n')
            continue
        if c['cell_type'] != 'code': continue
        d = directives(src)
        if 'default_exp' in d or 'hide' in d or 'nbdev_export(' in src: continue
        code, out = strip_directives(src), outs.render(c.get('outputs', []))
        if not code.strip() and not out: continue
        if d.keys() & {'export', 'exports', 'exporti'}:
            defs = [n for n in defined_names(code) if n in public]
            if not defs: continue                          # private helpers: in the source, not on the page
            md.append(''.join(entry(n, getattr(m, n), f'genomenn.{mod}', level=4, anchor=False) for n in defs))
            md.append(fold('Source', fence(code, 'python'), 'abstract'))
            continue
        if 'echo' in d and d['echo'].lower() == 'false': code = ''
        if 'output' in d and d['output'].lower() == 'false': out = ''
        skipped = not_run(type('C', (), {'cell_type': 'code', 'source': src})())
        if code and only_imports(code) and not out: md.append(fold('Set-up', fence(code, 'python')))
        elif code: md.append(fence(code, 'python'))
        if skipped and code: md.append('*(not run when this page is built)*\n\n')
        md.append(out)
    return ''.join(md)

# ---------------------------------------------------------------------------------------------------- README, config
def home_page(site_pages:set, names:dict)->str:
    "README.md, with links to the notebooks turned into links to their pages and other repository files to the repo."
    text = (ROOT/'README.md').read_text()
    text = re.sub(r'^<!--.*?-->\s*', '', text, flags=re.S)
    git_url = settings().get('git_url', '').rstrip('/')
    def fix(m):
        label, url = m.group(1), m.group(2)
        if re.match(r'[a-z]+:', url) or url.startswith('#'): return m.group(0)
        path, _, frag = url.partition('#')
        p = Path(path)
        if p.parent.name == 'nbs' and p.stem in site_pages:
            return f'[{label}]({p.stem}.md' + (f'#{frag}' if frag else '') + ')'
        return f'[{label}]({git_url}/blob/main/{path}' + (f'#{frag}' if frag else '') + ')' if git_url else label
    return link_names(re.sub(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)\)', fix, text), names)

def settings()->dict:
    import configparser
    cp = configparser.ConfigParser(); cp.read(ROOT/'settings.ini')
    return dict(cp['DEFAULT'])

EXTRA_CSS = """
.nb-outputs { border-left: 3px solid var(--md-primary-fg-color--light); padding-left: .8em; margin-bottom: 1.2em; }
.nb-outputs img { max-width: 100%; height: auto; }
.nb-output { overflow-x: auto; font-size: .75rem; }
.nb-output table { border-collapse: collapse; }
.nb-output th, .nb-output td { padding: .15em .5em; border-bottom: 1px solid #ddd; }
"""

def mkdocs_config(nav:list)->dict:
    s = settings()
    return {
        'site_name': s.get('title', 'genomenn'), 'site_description': s.get('description', ''),
        'copyright': s.get('copyright', ''), 'docs_dir': 'docs', 'use_directory_urls': False,
        'theme': {'name': 'material', 'font': False,            # no Google Fonts: the site needs no network
                  'features': ['navigation.sections', 'navigation.top', 'search.highlight', 'content.code.copy',
                               'toc.follow'],
                  'palette': {'primary': 'teal', 'accent': 'indigo'}},
        'plugins': ['search'],
        'extra_css': ['genomenn.css'],
        'markdown_extensions': ['attr_list', 'md_in_html', 'tables', 'admonition', 'pymdownx.details',
                                'pymdownx.superfences', {'pymdownx.highlight': {'use_pygments': True}},
                                {'toc': {'permalink': True}}],
        'validation': {'links': {'not_found': 'warn', 'unrecognized_links': 'warn', 'anchors': 'warn'},
                       'nav': {'not_found': 'warn'}},
        'nav': nav,
    }

# ---------------------------------------------------------------------------------------------------- build
def quiet_stderr():
    "Import TensorFlow with the C++ start-up lines (printed whatever TF_CPP_MIN_LOG_LEVEL says) out of the log."
    if 'tensorflow' in sys.modules: return
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try: importlib.import_module('tensorflow')
        except BaseException:
            os.dup2(saved, 2); f.seek(0); sys.stderr.write(f.read().decode(errors='replace')); raise
        finally: os.dup2(saved, 2); os.close(saved)

def build(out:Path, only=None, workers:int=2, do_exec:bool=True, keep:Path|None=None)->float:
    t0 = time.perf_counter()
    out = Path(out).resolve()
    nbs = module_notebooks(only)
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix='genomenn-docs-'))
    if keep and tmp.exists(): shutil.rmtree(tmp)
    docs, executed = tmp/'docs', tmp/'executed'
    (docs/'api').mkdir(parents=True)
    try:
        if do_exec:
            print(f'== docs: executing {len(nbs)} notebook(s) with {workers} worker(s)', flush=True)
            execute_all(nbs, executed, workers)
        else:
            executed.mkdir()
            for nb in nbs: shutil.copy(nb, executed/nb.name)
        print('== docs: writing pages', flush=True)
        sys.path.insert(0, str(ROOT))
        quiet_stderr()                                                    # TensorFlow's C++ start-up lines
        mods = {nb.stem: module_of(nb) for nb in module_notebooks()}      # every module gets its reference page
        API_MODULES.update({m: s for s, m in mods.items() if m})
        names = {}
        for s, m in mods.items():
            if not m: continue
            mm = importlib.import_module(f'genomenn.{m}')
            for n in getattr(mm, '__all__', []):                          # a name links to the module defining it
                if getattr(getattr(mm, n), '__module__', None) == mm.__name__ or n not in names:
                    names[n] = f'api/{m}.md#{n}'
        nav_nbs, nav_api = [], []
        for nb in nbs:
            cells = json.loads((executed/nb.name).read_text())['cells']
            for c in cells:
                if isinstance(c['source'], list): c['source'] = ''.join(c['source'])
            (docs/f'{nb.stem}.md').write_text(nb_page(executed/nb.name, docs, mods[nb.stem], names))
            nav_nbs.append({f'{nb_title(cells) or nb.stem}': f'{nb.stem}.md'})
        for s, m in mods.items():
            if not m: continue
            (docs/'api'/f'{m}.md').write_text(api_page(m, s).replace('](../', '](../'))
            nav_api.append({f'genomenn.{m}': f'api/{m}.md'})
        # links from API pages to tutorials that are not part of this (partial) build go to the reference itself
        built = {nb.stem for nb in nbs}
        for s, m in mods.items():
            if m and s not in built:
                p = docs/'api'/f'{m}.md'
                p.write_text(p.read_text().replace(f'[{s}](../{s}.md)', f'{s} (not in this build)'))
        (docs/'index.md').write_text(home_page(built, names))
        (docs/'genomenn.css').write_text(EXTRA_CSS)
        import yaml
        cfg = mkdocs_config([{'Home': 'index.md'}, {'Modules': nav_nbs}, {'API reference': nav_api}])
        (tmp/'mkdocs.yml').write_text(yaml.safe_dump(cfg, sort_keys=False))
        print(f'== docs: mkdocs build into {out}', flush=True)
        subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '-q', '-f', str(tmp/'mkdocs.yml'),
                        '-d', str(out)], check=True, env=os.environ | {'NO_MKDOCS_2_WARNING': '1'})
    finally:
        if not keep: shutil.rmtree(tmp, ignore_errors=True)
    secs = time.perf_counter() - t0
    print(f'== docs: site in {out} ({secs:.0f} s); open {out}/index.html', flush=True)
    return secs

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out', help='folder to write the site into (replaced)')
    ap.add_argument('--only', nargs='*',
                    help='build only these module notebooks (stems, e.g. 05_plots); the reference stays complete')
    ap.add_argument('--workers', type=int, default=int(os.environ.get('GENOMENN_DOCS_WORKERS', 2)),
                    help='notebooks executed at once')
    ap.add_argument('--no-exec', action='store_true', help='do not execute the notebooks (pages without outputs)')
    ap.add_argument('--keep', help='keep the generated Markdown and mkdocs.yml in this folder')
    a = ap.parse_args(argv)
    try: build(Path(a.out), a.only, a.workers, not a.no_exec, a.keep)
    except subprocess.CalledProcessError as e: sys.exit(f'docs: mkdocs build failed ({e.returncode})')

if __name__ == '__main__': main()
