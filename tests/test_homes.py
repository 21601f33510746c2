"""Each public name lives in one module: the modules a name was split out of no longer carry it."""
import importlib

import pytest

HOMES = {  # the module a name was split out of -> {name: the module that defines it}
    'genomenn.data': {n: 'genomenn.tfrecords' for n in ('SeqDataset', 'write_tfrecords', 'read_statistics',
                                                        'tfrecord_files', 'record_layout', 'RecordLayout',
                                                        'tfrecord_compression')}
                     | {n: 'genomenn.synthetic' for n in ('synthetic_dataset', 'SyntheticData', 'Splits', 'MOTIFS',
                                                         'SYNTHETIC_TARGETS')},
    'genomenn.metrics': {'R2Metric': 'genomenn.keras_metrics', 'PearsonRMetric': 'genomenn.keras_metrics'},
    'genomenn.plots': {n: 'genomenn.seqplots' for n in ('attribution_logo', 'ism_heatmap', 'track_plot',
                                                        'ism_importance')},
    'genomenn.gradients': {'ism': 'genomenn.ism', 'check_seqs': 'genomenn.data'},
    'genomenn.model': {'LOSSES': 'genomenn.losses', 'make_loss': 'genomenn.losses'},
}


@pytest.mark.parametrize('old', sorted(HOMES))
def test_names_live_in_their_homes_only(old):
    mod = importlib.import_module(old)
    for name, home in HOMES[old].items():
        new = importlib.import_module(home)
        assert name in new.__all__ and hasattr(new, name), (home, name)
        assert name not in mod.__all__, (old, name)   # not part of the old module's surface
        assert getattr(mod, name, None) in (None, getattr(new, name)), (old, name)   # at most imported for its own use


def test_no_reexport_helper():
    import genomenn.utils
    assert not hasattr(genomenn.utils, 'reexport')
