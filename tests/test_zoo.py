"""Real Basenji-family models: every shared params file with a reference count builds in genomenn with exactly the
Keras parameter count per head that baskerville's (or basenji's) own SeqNN gives; adapters and Saluki stay refused."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import json
import warnings

import keras
import pytest
from conftest import shared_path

from genomenn.blocks import UnbuildableError
from genomenn.model import SeqNN

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
SHAPES = {'baskerville__tests__data__params.json': BORZOI_LITE,
          'baskerville__tests__data__eval__params.json': BORZOI_LITE,
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


# --- baskerville's trained Borzoi-lite checkpoint: what baskerville's own SeqNN computed (baskerville_reference.npz)

EVAL_PARAMS = ('params', 'baskerville__tests__data__eval__params.json')
EVAL_MODEL = ('models', 'baskerville_eval', 'baskerville__tests__data__eval__model.h5')


@pytest.fixture(scope='module')
def borzoi_lite():
    "SeqNN(eval params) restored from baskerville's checkpoint, the reference arrays and the four one-hot windows."
    import numpy as np

    from genomenn.data import Genome, dna_1hot
    ref = dict(np.load(shared_path('models', 'baskerville_eval', 'baskerville_reference.npz')))
    s = SeqNN(shared_path(*EVAL_PARAMS)).restore(shared_path(*EVAL_MODEL), head=0)
    with Genome(shared_path('dna', 'hg38_1m.fa')) as g:
        L = int(ref['seq_length'])
        seqs = dna_1hot([g.fetch(str(ref['chrom']), int(a), int(a) + L) for a in ref['starts']])   # N -> all zeros
    return s, ref, seqs.astype('float32')


def test_checkpoint_predictions_equal_baskerville(borzoi_lite):
    import numpy as np
    s, ref, seqs = borzoi_lite
    pred = s.predict(seqs, batch_size=2)
    assert pred.shape == ref['preds'].shape == (4, 2048, 74)
    assert np.abs(pred - ref['preds']).max() <= 1e-4 * np.abs(ref['preds']).max()       # measured: 1.1e-5 of 24.8


def test_checkpoint_ensemble_with_strand_pairs_equals_baskerville(borzoi_lite):
    "build_ensemble(rc=True, shifts=[-1, 0, 1]) with the strand pairs of targets.txt, as hound_eval sets them."
    import numpy as np

    from genomenn.data import read_targets
    s, ref, seqs = borzoi_lite
    targets = read_targets(shared_path('tfrecords', 'baskerville_tiny_hg38', 'targets.txt'))
    np.testing.assert_array_equal(targets['strand_pair'].to_numpy(), ref['strand_pair'])
    ens = s.predict(seqs, rc=True, shifts=tuple(ref['ens_shifts']), strand_pair=targets, batch_size=2)
    want = ref['preds_ens_rc_shifts']
    assert np.abs(ens - want).max() <= 1e-4 * np.abs(want).max()
    unpaired = s.predict(seqs[:1], rc=True, shifts=tuple(ref['ens_shifts']), batch_size=1)
    assert np.abs(unpaired - want[:1]).max() > 1e-2 * np.abs(want).max()               # the swap is what makes it equal


def test_checkpoint_input_gradients_equal_baskerville(borzoi_lite):
    import numpy as np

    from genomenn.gradients import gradients
    s, ref, seqs = borzoi_lite
    g = gradients(s, seqs[:2], targets=ref['grad_targets'], positions=ref['grad_positions'], batch_size=1,
                  verbose=False)
    got, want = np.asarray(g.grads[0]), ref['grads']
    assert got.shape == want.shape == (2, 4, 131072, 4)
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


def test_checkpoint_round_trip_and_refusals(borzoi_lite, tmp_path):
    """save(.h5) writes their layout; restore reads it back exactly; a file with a layer removed or a wrong shape is
    refused whole."""
    import h5py
    import numpy as np
    s, ref, seqs = borzoi_lite
    path = s.save(tmp_path / 'model.h5')
    with h5py.File(path, 'r') as f:
        assert 'layer_names' in f.attrs and len(f.attrs['layer_names']) >= 34
    t = SeqNN(shared_path(*EVAL_PARAMS)).restore(path)
    for a, b in zip(t.models[0].weights, s.models[0].weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    fresh = SeqNN(shared_path(*EVAL_PARAMS))
    before = [np.asarray(w).copy() for w in fresh.models[0].weights]
    with h5py.File(path, 'a') as f:                     # a wrong shape: the first dense layer of the head
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs['layer_names']]
        last = [n for n in names if len(f[n].attrs['weight_names'])][-1]
        w = f[last].attrs['weight_names'][0]; w = w.decode() if isinstance(w, bytes) else w
        kernel = f[last][w][()]; del f[last][w]; f[last][w] = kernel[:, :-1]
    with pytest.raises(ValueError, match=r'does not fit.*\(1536, 74\).*\(1536, 73\)|does not fit.*73'):
        fresh.restore(path)
    for a, b in zip(before, fresh.models[0].weights): np.testing.assert_array_equal(a, np.asarray(b))
    with h5py.File(path, 'a') as f:                     # a layer removed
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs['layer_names']]
        f.attrs['layer_names'] = np.array([n.encode() for n in names if n != last])
    with pytest.raises(ValueError, match='layers with weights'):
        fresh.restore(path)
    for a, b in zip(before, fresh.models[0].weights): np.testing.assert_array_equal(a, np.asarray(b))
