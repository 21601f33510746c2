"""Real Basenji-family models: every shared params file with a reference count builds in genomenn with exactly the
Keras parameter count per head that baskerville's (or basenji's) own SeqNN gives; adapters and Saluki stay refused."""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import json, warnings
import pytest
import keras
from conftest import shared_path
from genomenn.model import SeqNN
from genomenn.blocks import UnbuildableError

REFERENCE = 'params_reference_counts.json'


def reference_counts():
    "{file: [count per head]} from baskerville's build (basenji's where baskerville could not build the file)."
    try: d = json.loads(shared_path('reference', REFERENCE).read_text())['files']
    except BaseException: return {}
    out = {}
    for name, v in d.items():
        counts = v['baskerville'] if isinstance(v['baskerville'], list) else v['basenji']
        out[name] = counts if isinstance(counts, list) else str(counts)
    return out


COUNTS = reference_counts()
# Output shape per head: seq_length / 128 x 4 (two unet_conv) - 2 x Cropping1D (data README, "JSON output length").
BORZOI_LITE = [(2048, 74), (2048, 32)]
SHAPES = {'baskerville__tests__data__params.json': BORZOI_LITE, 'baskerville__tests__data__eval__params.json': BORZOI_LITE,
          'baskerville__tests__integration__test__params.json': [(6144, 68)],
          'borzoi__examples__params.json': [(6144, 7611), (6144, 2608)],
          'borzoi__tutorials__latest__train_model__params_micro.json': [(12288, 2)],
          'borzoi__tutorials__legacy__train_model__params_micro.json': [(6144, 2)],
          'basenji__manuscripts__enformer__params_enformer.json': [(896, 5313), (896, 1643)],
          **{f'baskerville__tests__data__transfer__json__borzoi_{n}.json': [(6144, 4)]
             for n in ('full', 'houlsby', 'ia3', 'linear', 'lora')},
          **{f'baskerville__tests__data__transfer__json__borzoilite_{n}.json': [(6144, 68)]
             for n in ('full', 'houlsby', 'linear', 'locon4', 'lora', 'se4')}}
BUILT = sorted(k for k, v in COUNTS.items() if isinstance(v, list))
ERRORS = sorted(k for k, v in COUNTS.items() if not isinstance(v, list))


def test_reference_lists_the_json_files():
    d = json.loads(shared_path('reference', REFERENCE).read_text())['files']
    names = {p.name for p in shared_path('params').glob('*.json')}
    assert set(d) == names and len(BUILT) >= 20


@pytest.mark.parametrize('name', BUILT)
def test_parameter_counts_equal_baskerville(name):
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        s = SeqNN(shared_path('params', name))
    assert [m.count_params() for m in s.models] == COUNTS[name]
    if name in SHAPES: assert [s.output_shape(i) for i in range(len(s.models))] == SHAPES[name]


def test_files_they_cannot_build():
    "biorxiv2019 (batch_norm on conv_block) fails in both libraries; genomenn builds it. Adapters stay refused."
    assert 'basenji-history__manuscripts__biorxiv2019__params_mouse.json' in ERRORS
    with pytest.raises(UnbuildableError, match="model.adapter': adapter 'houlsby': adapters are not supported yet"):
        SeqNN(shared_path('params', 'baskerville__tests__data__transfer__json__load_model_houlsby.json'))


def test_saluki_without_a_trunk_is_not_supported_yet():
    with pytest.raises(UnbuildableError, match=r"without a 'trunk' \(Saluki, basenji's RnaNN\) is not supported yet"):
        SeqNN({'train': {}, 'model': {'seq_length': 12288, 'rnn_type': 'gru', 'head': {'name': 'final', 'units': 2}}})
