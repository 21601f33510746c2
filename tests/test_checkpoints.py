"""genomenn.checkpoints: basenji/baskerville tf.keras 2 HDF5 checkpoints read (the shared Borzoi-lite file), loaded by
structure into genomenn models (files written here in their layout, with their kind of layer names), all or nothing,
and written in their layout."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import json
import re
import warnings
from collections import Counter

import h5py
import keras
import numpy as np
import pytest
from conftest import shared_path
from helpers import file_modes, random_1hot, randomise_weights

from genomenn.checkpoints import (
    graph_order,
    layer_weights,
    load_checkpoint,
    model_config,
    read_checkpoint,
    save_checkpoint,
    weighted_layers,
)
from genomenn.model import SeqNN

# The tutorial model of basenji (conv_block, conv_tower, dilated_residual, conv_block, final) at 2048 bp.
SMALL = {'seq_length': 2048, 'activation': 'gelu', 'norm_type': 'batch', 'bn_momentum': 0.9,
         'trunk': [{'name': 'conv_block', 'filters': 16, 'kernel_size': 15, 'pool_size': 8},
                   {'name': 'conv_tower', 'filters_init': 16, 'filters_mult': 1.125, 'kernel_size': 5, 'pool_size': 4,
                    'repeat': 2},
                   {'name': 'dilated_residual', 'filters': 8, 'rate_mult': 2, 'repeat': 3, 'dropout': 0.25},
                   {'name': 'conv_block', 'filters': 16, 'dropout': 0.05}],
         'head': {'name': 'final', 'units': 3, 'activation': 'softplus'}}
BORZOI_LITE = ('models', 'baskerville_eval', 'baskerville__tests__data__eval__model.h5')

def small(seed=None):
    "A genomenn SeqNN of SMALL; with a seed, every weight (batch-norm statistics too) set at random."
    s = SeqNN({'model': SMALL})
    if seed is not None: randomise_weights(s.models[0].weights, seed, sd=0.3, positive='variance|gamma')
    return s

def values(model): return [w.numpy().copy() for w in model.weights]

def keras2_names(model):
    "tf.keras 2's automatic names for `model`'s layers: `conv1d`, `conv1d_1`, `batch_normalization`, ..."
    seen, out = Counter(), {}
    for l in graph_order(model):
        base = re.sub(r'(?<!^)(?=[A-Z][a-z])', '_', type(l).__name__).lower()
        out[l.name] = base + (f'_{seen[base]}' if seen[base] else '')
        seen[base] += 1
    return out

def write_tf2(path, model, *, full_model=True, drop=None, reshape=None, extra=False):
    """Write `model`'s weights as tf.keras 2 does, under tf.keras 2's names: `full_model` as `SeqNN.save` (a
    `model_weights` group and a `model_config` with class names) or as `save_weights`; groups made in another order
    than `layer_names`. `drop`: leave out the named layer; `reshape`: (layer, new shape of its first weight);
    `extra`: append a weighted layer after the last (a second head's output layer)."""
    names, layers = keras2_names(model), graph_order(model)
    entries = []
    for l in layers:
        if l.name == drop: continue
        ws = [w.numpy() for w in layer_weights(l)]
        if reshape and l.name == reshape[0]: ws[0] = np.zeros(reshape[1], 'float32')
        n = names[l.name]
        entries.append((n, type(l).__name__, [(f'{n}/{w.name}:0', a) for w, a in zip(layer_weights(l), ws)]))
    if extra: entries.append(('dense_99', 'Dense', [('dense_99/kernel:0', np.zeros((3, 5), 'float32'))]))
    with h5py.File(path, 'w') as f:
        if full_model:
            cfg = {'class_name': 'Functional', 'config': {'name': 'model', 'layers': [
                {'class_name': c, 'name': n, 'config': {'name': n}, 'inbound_nodes': []} for n, c, _ in entries]}}
            f.attrs['model_config'] = json.dumps(cfg).encode()
            f.attrs['keras_version'] = b'2.15.0'
            g = f.create_group('model_weights')
        else: g = f
        g.attrs['layer_names'] = np.asarray([n.encode() for n, _, _ in entries])
        g.attrs['backend'], g.attrs['keras_version'] = b'tensorflow', b'2.15.0'
        for n, _, ws in sorted(entries, key=lambda e: e[0]):
            h = g.create_group(n)
            h.attrs['weight_names'] = np.asarray([w.encode() for w, _ in ws]) if ws else np.asarray([])
            for w, a in ws: h.create_dataset(w, data=a)
    return path

@pytest.fixture(scope='module')
def x(): return random_1hot(2, 2048)

@pytest.fixture(scope='module')
def source(x):
    s = small(seed=1)
    return s, s.models[0].predict(x, verbose=0)

# --- reading baskerville's Borzoi-lite checkpoint

def test_borzoi_lite_read():
    path = shared_path(*BORZOI_LITE)
    ck = read_checkpoint(path)
    weighted = [l for l in ck if l.weights]
    assert (len(ck), len(weighted)) == (73, 34)
    assert (ck[0].name, ck[0].class_name, ck[0].weights) == ('sequence', 'InputLayer', [])
    assert [a.shape for a in weighted[0].weights] == [(7, 4, 64), (64,)] and weighted[0].name == 'conv1d'
    assert (weighted[-1].name, [a.shape for a in weighted[-1].weights]) == ('dense_8', [(128, 74), (74,)])
    bn = ck[5]
    assert (bn.class_name, [n.split('/')[-1] for n in bn.weight_names]) == \
           ('BatchNormalization', ['gamma:0', 'beta:0', 'moving_mean:0', 'moving_variance:0'])
    assert np.all(bn.weights[3] > 0)       # variances
    mha = [l for l in weighted if l.class_name == 'MultiheadAttention']
    assert len(mha) == 2 and [a.shape for a in mha[0].weights] == \
           [(1, 2, 1, 32), (1, 2, 1, 32), (128, 64), (128, 64), (128, 128), (128, 128), (128,), (32, 64)]
    assert Counter(l.class_name for l in weighted) == {'Conv1D': 7, 'BatchNormalization': 10, 'LayerNormalization': 4,
                                                       'MultiheadAttention': 2, 'Dense': 9, 'SeparableConv1D': 2}

def test_borzoi_lite_graph_order():
    "tf.keras 2's order computed from the file's model_config is the file's layer_names (U-net branches included)."
    path = shared_path(*BORZOI_LITE)
    names = [l.name for l in read_checkpoint(path)]
    assert graph_order(model_config(path)) == names
    i = names.index
    assert i('batch_normalization_8') < i('batch_normalization_9') < i('dense_6') < i('dense_7')

# --- loading files in their layout

@pytest.mark.parametrize('full_model', [True, False])
def test_load_reproduces_predictions(tmp_path, source, x, full_model):
    s, pred = source
    path = write_tf2(tmp_path/'model.h5', s.models[0], full_model=full_model)
    t = small()
    pairs = load_checkpoint(t.models[0], path)
    assert len(pairs) == len(weighted_layers(t.models[0])) == 21
    assert pairs[0] == ('conv1d', t.models[0].get_layer(pairs[0][1]).name)
    np.testing.assert_allclose(t.models[0].predict(x, verbose=0), pred, rtol=1e-6, atol=1e-6)

def test_missing_layer_refused_nothing_assigned(tmp_path, source):
    s, _ = source
    gone = weighted_layers(s.models[0])[5]            # a batch normalisation inside the tower
    path = write_tf2(tmp_path/'missing.h5', s.models[0], drop=gone.name)
    t = small(); before = values(t.models[0])
    with pytest.raises(ValueError) as e: load_checkpoint(t.models[0], path)
    msg = str(e.value)
    assert f"model layer {gone.name!r} (BatchNormalization)" in msg and 'another kind of layer' in msg
    assert 'nothing was loaded' in msg and 'weighted layer 5' in msg
    for a, b in zip(before, values(t.models[0])): np.testing.assert_array_equal(a, b)

def test_wrong_shape_refused_nothing_assigned(tmp_path, source):
    s, _ = source
    conv = weighted_layers(s.models[0])[4]
    shape = tuple(conv.weights[0].shape)
    bad = shape[:-1] + (shape[-1] + 1,)
    path = write_tf2(tmp_path/'shape.h5', s.models[0], reshape=(conv.name, bad))
    t = small(); before = values(t.models[0])
    with pytest.raises(ValueError) as e: load_checkpoint(t.models[0], path)
    msg = str(e.value)
    name = keras2_names(s.models[0])[conv.name]
    assert f"file layer {name!r} (Conv1D) -> model layer {conv.name!r}" in msg
    assert f"expected shapes [{shape}]" in msg and f"found [{bad}]" in msg
    for a, b in zip(before, values(t.models[0])): np.testing.assert_array_equal(a, b)

def test_count_mismatch(tmp_path, source):
    s, _ = source
    path = write_tf2(tmp_path/'extra.h5', s.models[0], extra=True)
    t = small(); before = values(t.models[0])
    with pytest.raises(ValueError, match=r'holds 22 layers with weights, the model 21'):
        load_checkpoint(t.models[0], path)
    for a, b in zip(before, values(t.models[0])): np.testing.assert_array_equal(a, b)

def test_trunk_from_a_full_checkpoint(tmp_path, source, x):
    "layers=model_trunk: the trunk's weights load, the file's head is left over, our head is untouched."
    s, _ = source
    path = write_tf2(tmp_path/'full.h5', s.models[0], extra=True)
    t = small(); head = [l for l in t.models[0].layers if l.weights][-1]   # the final dense layer
    assert head.weights and head not in t.model_trunk.layers
    head_before = values(head)
    pairs = load_checkpoint(t.models[0], path, layers=t.model_trunk)
    assert len(pairs) == 20
    np.testing.assert_allclose(t.model_trunk.predict(x, verbose=0), s.model_trunk.predict(x, verbose=0), rtol=1e-6,
                               atol=1e-6)
    for a, b in zip(head_before, values(head)): np.testing.assert_array_equal(a, b)

def test_trunk_only_checkpoint(tmp_path, source):
    "A trunk-only file (their `save(trunk=True)`) loads with layers=model_trunk; into the whole model it is refused."
    s, _ = source
    path = write_tf2(tmp_path/'trunk.h5', s.model_trunk)
    t = small()
    assert len(load_checkpoint(t.models[0], path, layers=t.model_trunk)) == 20
    with pytest.raises(ValueError, match='holds 20 layers with weights, the model 21'):
        load_checkpoint(small().models[0], path)
    other = keras.layers.Dense(2); other.build((None, 3))
    with pytest.raises(ValueError, match='not a layer of the model'):
        load_checkpoint(t.models[0], path, layers=[other])

def test_load_into_float64(tmp_path, source, x):
    s, pred = source
    path = write_tf2(tmp_path/'model.h5', s.models[0])
    t = SeqNN({'model': SMALL}, dtype='float64')
    load_checkpoint(t.models[0], path)
    np.testing.assert_allclose(t.models[0].predict(x.astype('float64'), verbose=0), pred, rtol=1e-4, atol=1e-4)

def test_not_their_layout(tmp_path, source):
    s, _ = source
    p = tmp_path/'keras3.weights.h5'
    with warnings.catch_warnings():   # Keras' own numpy-2 copy-keyword notice
        warnings.simplefilter('ignore', DeprecationWarning); s.models[0].save_weights(p)
    with pytest.raises(ValueError, match="tf.keras 2 HDF5 checkpoint"): load_checkpoint(small().models[0], p)

# --- writing their layout

def test_save_layout_and_round_trip(tmp_path, source, x):
    s, pred = source
    old = os.umask(0o027)
    try: path = save_checkpoint(s.models[0], tmp_path/'ours.h5')
    finally: os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ['ours.h5']
    with h5py.File(path, 'r') as f:
        assert [n.decode() for n in f.attrs['layer_names']] == [l.name for l in graph_order(s.models[0])]
        assert (f.attrs['backend'], f.attrs['keras_version']) == ('tensorflow', keras.__version__)
        bn = [l for l in weighted_layers(s.models[0]) if isinstance(l, keras.layers.BatchNormalization)][0]
        assert [n.decode() for n in f[bn.name].attrs['weight_names']] == \
               [f'{bn.name}/{r}:0' for r in ('gamma', 'beta', 'moving_mean', 'moving_variance')]
        np.testing.assert_array_equal(f[bn.name][f'{bn.name}/moving_variance:0'][()], bn.moving_variance.numpy())
        assert len(f['sequence'].attrs['weight_names']) == 0
    t = small()
    load_checkpoint(t.models[0], path)
    np.testing.assert_allclose(t.models[0].predict(x, verbose=0), pred, rtol=1e-6, atol=1e-6)

def test_weights_h5_save_umask_mode_and_atomic(tmp_path, source, umask027, monkeypatch):
    "SeqNN.save('.weights.h5') (also the best-weights callback): the umask's mode; a failed write keeps the old file."
    s, _ = source
    s.save(tmp_path/'m.weights.h5')
    assert file_modes(tmp_path) == {'m.weights.h5': 0o640}
    before = (tmp_path/'m.weights.h5').read_bytes()
    def fail(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(keras.Model, 'save_weights', fail)
    with pytest.raises(OSError, match='disk full'): small(seed=2).save(tmp_path/'m.weights.h5')
    assert file_modes(tmp_path) == {'m.weights.h5': 0o640} and (tmp_path/'m.weights.h5').read_bytes() == before

def test_save_is_atomic(tmp_path, source, monkeypatch):
    "A write that fails part-way leaves the earlier file as it was and no temporary file."
    s, _ = source
    path = save_checkpoint(s.models[0], tmp_path/'ours.h5')
    before = path.read_bytes()
    def fail(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(h5py.Group, 'create_dataset', fail)
    with pytest.raises(OSError, match='disk full'): save_checkpoint(small(seed=2).models[0], path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ['ours.h5']
    with pytest.raises(ValueError, match=r"'\.h5'"): save_checkpoint(s.models[0], tmp_path/'ours.weights')

