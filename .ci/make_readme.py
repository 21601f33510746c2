"""Write README.md from nbs/index.ipynb (quarto, which `nbdev_readme` needs, is not available).

Usage: python .ci/make_readme.py [--check]   (--check: exit 1 if README.md is not current)
"""
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parent.parent
nb = nbformat.read(root/'nbs'/'index.ipynb', as_version=4)
keep = []
for c in nb.cells:
    src = c.source
    if re.search(r'^#\|\s*hide\b', src, re.M): continue
    c.source = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip('\n')
    keep.append(c)
nb.cells = keep
body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
text = '<!-- Generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file. -->\n\n' + body
out = root/'README.md'
if '--check' in sys.argv:
    if not out.exists() or out.read_text() != text:
        sys.exit('README.md is not current with nbs/index.ipynb: run `python .ci/make_readme.py`')
    print('README.md is current')
else:
    tmp = out.with_suffix('.md.tmp'); tmp.write_text(text); tmp.replace(out)
    print('wrote', out)
