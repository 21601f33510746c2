"""Names that moved to their own modules stay importable from the module users know them from."""
import importlib
import subprocess
import sys

import pytest

MOVED = {  # module users import from -> {name: module that defines it}
    'genomenn.data': {n: 'genomenn.tfrecords' for n in ('SeqDataset', 'write_tfrecords', 'read_statistics',
                                                        'tfrecord_files',
                                                       'record_layout', 'RecordLayout', 'tfrecord_compression')}
                     | {n: 'genomenn.synthetic' for n in ('synthetic_dataset', 'SyntheticData', 'Splits', 'MOTIFS',
                                                         'SYNTHETIC_TARGETS')},
    'genomenn.metrics': {'R2Metric': 'genomenn.keras_metrics', 'PearsonRMetric': 'genomenn.keras_metrics'},
    'genomenn.plots': {n: 'genomenn.seqplots' for n in ('attribution_logo', 'ism_heatmap', 'track_plot',
                                                        'ism_importance')},
    'genomenn.gradients': {'ism': 'genomenn.ism'},
    'genomenn.model': {'LOSSES': 'genomenn.losses', 'make_loss': 'genomenn.losses'},
}


@pytest.mark.parametrize('where', sorted(MOVED))
def test_moved_names_are_the_same_objects(where):
    mod = importlib.import_module(where)
    for name, home in MOVED[where].items():
        assert getattr(mod, name) is getattr(importlib.import_module(home), name), (where, name)
        assert name in mod.__all__ and name in dir(mod)
    with pytest.raises(AttributeError, match=f"module '{where}' has no attribute 'no_such_name'"):
        getattr(mod, 'no_such_name')


@pytest.mark.parametrize('first', ['genomenn.tfrecords', 'genomenn.synthetic', 'genomenn.keras_metrics',
                                   'genomenn.seqplots',
                                   'genomenn.ism', 'genomenn.losses'])
def test_any_import_order_works(first):
    "Importing a new module first (fresh interpreter), then `import *` from the old one, gives every name."
    where = next(w for w, names in MOVED.items() if first in names.values())
    names = sorted(MOVED[where])
    code = f"import {first}; from {where} import *; print({names!r} == sorted(n for n in {names!r} if n in globals()))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == 'True', r.stderr[-2000:]


def test_metrics_import_needs_no_tensorflow():
    r = subprocess.run([sys.executable, '-c', 'import sys, genomenn.metrics; print("tensorflow" in sys.modules)'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == 'False', r.stderr[-2000:]
