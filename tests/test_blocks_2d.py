"""Akita's 2-D blocks (genomenn.blocks_2d): shapes, hand-counted weights, numbers against float64 numpy from the
definitions."""
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras
import numpy as np
import pytest
from conftest import shared_path
from helpers import F64, rand

from genomenn.blocks import Layers, block_args, block_names, build_block
from genomenn.blocks_2d import UpperTri, triu_index, triu_rc_order
from genomenn.model import SeqNN
from genomenn.params import BLOCK_VOCABULARY


def run(blocks, x, globals_=None, weights=None):
    "Build `blocks` on an input shaped like `x` (float64), optionally set weights; (model, output, layer builder)."
    inp = keras.Input(x.shape[1:], dtype=F64); y = inp; lb = Layers('t_', F64)
    for b in blocks: y = build_block(y, b, globals_=globals_, lb=lb)
    m = keras.Model(inp, y)
    if weights is not None: m.set_weights(weights)
    return m, np.asarray(m(x, training=False)), lb


def np_conv2d_same(x, w, dilation=1):
    "2-D 'same' cross-correlation (TF's padding split) of x (S, H, W, C) with w (K, K, C, F), float64."
    K = w.shape[0]; span = (K - 1)*dilation; a = span//2
    xp = np.pad(x, ((0, 0), (a, span - a), (a, span - a), (0, 0)))
    H, W = x.shape[1:3]
    return sum(np.einsum('shwc,cf->shwf', xp[:, u*dilation:u*dilation + H, v*dilation:v*dilation + W], w[u, v])
               for u in range(K) for v in range(K))


def test_registry_has_every_2d_name():
    names = {n for n in BLOCK_VOCABULARY if '2d' in n.lower()} | {'one_to_two', 'upper_tri'}
    assert names <= block_names(), names - block_names()


@pytest.mark.parametrize('op,f,width', [
    ('mean', lambda a, b: (a + b)/2, 3), ('max', np.maximum, 3), ('multiply', lambda a, b: a*b, 3),
    ('multiply1', lambda a, b: (a + 1)*(b + 1) - 1, 3), ('concat', lambda a, b: np.concatenate([a, b], -1), 6)])
def test_one_to_two(op, f, width):
    x = rand(2, 7, 3)
    xj, xi = np.broadcast_to(x[:, None], (2, 7, 7, 3)), np.broadcast_to(x[:, :, None],  # [i, j]: bin j, bin i
                                                                        (2, 7, 7, 3))
    m, y, _ = run([{'name': 'one_to_two', 'operation': op.upper() if op == 'max' else op}], x)
    assert y.shape == (2, 7, 7, width) and m.count_params() == 0
    np.testing.assert_allclose(y, f(xj, xi), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name,op', [('average_to_2d', 'mean'), ('max_to_2d', 'max'), ('dot_to_2d', 'multiply'),
                                     ('concat_to_2d', 'concat')])
def test_older_to_2d_names(name, op):
    x = rand(1, 5, 2)
    np.testing.assert_array_equal(run([{'name': name}], x)[1], run([{'name': 'one_to_two', 'operation': op}], x)[1])


def test_geodot_to_2d():
    x = np.abs(rand(1, 5, 2))
    y = run([{'name': 'geodot_to_2d'}], x)[1]
    np.testing.assert_allclose(y, np.sqrt((x[:, None] + 1)*(x[:, :, None] + 1)) - 1, rtol=1e-12)


def test_one_to_two_errors():
    with pytest.raises(ValueError, match="got 'multipy'"):
        run([{'name': 'one_to_two', 'operation': 'multipy'}], rand(1, 4, 2))
    with pytest.raises(ValueError, match=r'expected a 1-D representation \(B, P, C\), got \(None, 4, 4, 2\)'):
        run([{'name': 'one_to_two'}], rand(1, 4, 4, 2))


def test_concat_dist_2d():
    x = rand(2, 6, 6, 3)
    y = run([{'name': 'concat_dist_2d'}], x)[1]
    i, j = np.meshgrid(np.arange(6), np.arange(6), indexing='ij')
    assert y.shape == (2, 6, 6, 4)
    np.testing.assert_array_equal(y[..., :3], x)
    np.testing.assert_array_equal(y[..., 3], np.broadcast_to(np.abs(i - j), (2, 6, 6)))


def test_symmetrize_2d():
    x = rand(2, 6, 6, 3)
    y = run([{'name': 'symmetrize_2d'}], x)[1]
    np.testing.assert_allclose(y, (x + x.transpose(0, 2, 1, 3))/2, rtol=1e-12)
    np.testing.assert_array_equal(y, y.transpose(0, 2, 1, 3))


@pytest.mark.parametrize('d', [0, 1, 2, 3])
def test_upper_tri(d):
    n = 9; x = rand(2, n, n, 3)
    y = run([{'name': 'upper_tri', 'diagonal_offset': d}], x)[1]
    pairs = [(i, j) for i in range(n) for j in range(i + d, n)]           # row by row, j - i >= d
    assert y.shape == (2, (n - d)*(n - d + 1)//2, 3) == (2, len(pairs), 3)
    np.testing.assert_array_equal(y, np.stack([x[:, j, i] for i, j in pairs], 1))  # basenji reads [j, i]
    np.testing.assert_array_equal(triu_index(n, d), [j*n + i for i, j in pairs])


def test_upper_tri_default_and_errors():
    assert block_args('upper_tri') == {'diagonal_offset'}
    assert run([{'name': 'upper_tri'}], rand(1, 6, 6, 1))[1].shape == (1, 10, 1)
    with pytest.raises(ValueError, match='square map'): run([{'name': 'upper_tri'}], rand(1, 6, 5, 1))
    with pytest.raises(ValueError, match="diagonal_offset.*non-negative integer, got -1"): UpperTri(-1)


def test_triu_rc_order():
    "Reverse-complementing reverses both axes of a symmetric map; the triangle's entries move as triu_rc_order says."
    n, d = 8, 2
    s = rand(n, n); s = s + s.T
    i, j = np.triu_indices(n, d)
    np.testing.assert_array_equal(s[i, j][triu_rc_order(n, d)], s[::-1, ::-1][i, j])
    assert sorted(triu_rc_order(n, d)) == list(range(len(i)))


@pytest.mark.parametrize('crop,shape,top,sl', [
    (2, (5, 5), 2, np.s_[:, 2:7, 2:7]), ((1, 2), (7, 5), 1, np.s_[:, 1:8, 2:7]),
    (((1, 2), (3, 0)), (6, 6), 1, np.s_[:, 1:7, 3:9])])
def test_cropping_2d(crop, shape, top, sl):
    x = rand(2, 9, 9, 3)
    for name in ('cropping_2d', 'Cropping2D'):
        m, y, lb = run([{'name': name, 'cropping': crop}], x)
        assert y.shape == (2, *shape, 3) and lb.crop_left == top and m.count_params() == 0
        np.testing.assert_array_equal(y, x[sl])
    assert run([{'name': 'Cropping2D'}], x)[1].shape == x.shape               # Keras' default: no crop
    with pytest.raises(ValueError, match='cropping: expected non-negative crops leaving part of the 9 x 9 map, got 5'):
        run([{'name': 'cropping_2d', 'cropping': 5}], x)


def test_conv_block_2d_numbers():
    "relu, dilated 3x3 'same' convolution without bias, batch norm (inference) against float64 numpy."
    x = rand(2, 8, 8, 3); rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3, 3, 4)); g, b, mu = rng.normal(size=(3, 4)); var = rng.uniform(0.5, 2, 4)
    m, y, lb = run([{'name': 'conv_block_2d', 'filters': 4, 'kernel_size': 3, 'dilation_rate': 2}], x,
                   globals_={'norm_type': 'batch', 'bn_momentum': 0.9}, weights=[w, g, b, mu, var])
    assert m.count_params() == 3*3*3*4 + 4*4 and lb.pool == 1
    ref = (np_conv2d_same(np.maximum(x, 0), w, 2) - mu)/np.sqrt(var + 1e-3)*g + b
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)


def test_conv_block_2d_bias_pool_symmetric():
    x = rand(2, 8, 8, 3); rng = np.random.default_rng(2)
    w, bias = rng.normal(size=(3, 3, 3, 2)), rng.normal(size=2)
    m, y, lb = run([{'name': 'conv_block_2d', 'filters': 2, 'kernel_size': 3, 'activation': 'linear', 'pool_size': 2,
                     'symmetric': True}], x, weights=[w, bias])
    assert m.count_params() == 3*3*3*2 + 2 and y.shape == (2, 4, 4, 2) and lb.pool == 2
    c = np_conv2d_same(x, w) + bias
    c = c.reshape(2, 4, 2, 4, 2, 2).max(axis=(2, 4))
    np.testing.assert_allclose(y, (c + c.transpose(0, 2, 1, 3))/2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('kw,count,shape', [
    ({'filters': 4, 'kernel_size': 3, 'conv_type': 'separable', 'norm_type': 'layer'}, 3*3*3 + 3*4 + 2*4, (8, 8, 4)),
    ({'filters': 4, 'kernel_size': 3, 'stride': 2}, 3*3*3*4 + 4, (4, 4, 4)),
    ({'filters': 5}, 3*5 + 5, (8, 8, 5))])
def test_conv_block_2d_counts(kw, count, shape):
    m, y, lb = run([{'name': 'conv_block_2d', **kw}], rand(1, 8, 8, 3))
    assert m.count_params() == count and y.shape[1:] == shape and lb.pool == 8//shape[0]


def test_dilated_residual_2d():
    "Per repeat: 3x3 C->F conv + BN, 1x1 F->C conv + BN (scale starting at zero), add, symmetrize."
    C, F, R = 5, 3, 3
    x = rand(2, 10, 10, C)
    m, y, _ = run([{'name': 'dilated_residual_2d', 'filters': F, 'rate_mult': 1.75, 'repeat': R, 'dropout': 0.1}], x,
                  globals_={'norm_type': 'batch', 'activation': 'relu'})
    assert m.count_params() == R*((9*C*F + 4*F) + (C*F + 4*C)) and y.shape == x.shape
    convs = [l for l in m.layers if isinstance(l, keras.layers.Conv2D)]
    assert [l.dilation_rate[0] for l in convs] == [1, 1, 2, 1, 3, 1]
    bns = [l for l in m.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert [float(np.asarray(l.gamma).mean()) for l in bns] == [1., 0., 1., 0., 1., 0.]
    np.testing.assert_allclose(y, (x + x.transpose(0, 2, 1, 3))/2, rtol=1e-12)  # zero scales: the symmetrized input
    m, y, _ = run([{'name': 'dilated_residual_2d', 'filters': F, 'symmetric': False}], x)
    assert m.count_params() == (9*C*F + F) + (C*F + C)
    assert not np.allclose(y, y.transpose(0, 2, 1, 3))                          # no symmetrizing


def test_small_akita_head():
    "The Akita head on 24 bins: count by hand, (n - d)(n - d + 1)/2 pairs."
    head = [{'name': 'one_to_two'}, {'name': 'concat_dist_2d'},
            {'name': 'conv_block_2d', 'filters': 6, 'kernel_size': 3},
            {'name': 'symmetrize_2d'},
            {'name': 'dilated_residual_2d', 'filters': 4, 'kernel_size': 3, 'rate_mult': 1.75, 'repeat': 2,
             'dropout': 0.1},
            {'name': 'cropping_2d', 'cropping': 3}, {'name': 'upper_tri', 'diagonal_offset': 2},
            {'name': 'final', 'units': 5, 'activation': 'linear'}]
    m, y, _ = run(head, rand(2, 24, 8), globals_={'norm_type': 'batch'})
    n = 24 - 6 - 2
    assert y.shape == (2, n*(n + 1)//2, 5)
    assert m.count_params() == (9*9*6 + 4*6) + 2*((9*6*4 + 4*4) + (4*6 + 4*6)) + (6*5 + 5)


def test_akita_params_count_and_shape():
    p = shared_path('params', 'basenji__manuscripts__akita__params.json')
    with warnings.catch_warnings():
        warnings.simplefilter('error')                       # its target_length, target_crop and offset agree
        s = SeqNN(p)
    assert [m.count_params() for m in s.models] == [751653]
    assert s.output_shape() == (99681, 5) == ((512 - 64 - 2)*(512 - 64 - 1)//2, 5)
    assert (s.target_length, s.map_length, s.diagonal_offset, s.pool_width, s.crop_bp, s.target_crop) == \
           (99681, 448, 2, 2048, 32*2048, 0)
    assert s.repr_pools == [1, 2, 2048, 2048, 2048]
