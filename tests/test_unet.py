"""U-net blocks (genomenn.unet): shapes, hand-counted weights, float64 numpy references, skips and pooling in SeqNN."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from fractions import Fraction

import keras
import numpy as np
import pytest
from helpers import F64, rand, random_1hot, randomise_weights, sym
from references import conv_same as conv_np
from references import gelu_tanh as gelu_np
from references import sepconv_same as sepconv_np

from genomenn import unet as U
from genomenn.blocks import Layers, build_block
from genomenn.model import SeqNN
from genomenn.params import ParamsError


def block_model(f, L=6, C=5, C2=3, stride=2, skip_len=None, **kw):
    """A float64 keras.Model [x (L, C), skip (stride*L, C2)] -> block output, with every weight random (BN statistics
    too)."""
    x, s = sym(L, C), sym(skip_len or stride*L, C2)
    m = keras.Model([x, s], f(x, s, stride=stride, lb=Layers('u_', F64), **kw) if f is not U.concat_unet else f(x, s))
    randomise_weights(m.weights)
    return m


def weights(m, name): return [np.asarray(w) for w in m.get_layer(name).weights]


def bn_np(x, gamma, beta, mean, var, eps=1e-3): return gamma*(x - mean)/np.sqrt(var + eps) + beta


def tconv_np(x, w, b, stride):
    "'same' transposed convolution, kernel (K, F, C): y[l*s + k - pad] += x[l] W[k], pad = max(K - s, 0)//2."
    S, L, C = x.shape; K, F, _ = w.shape
    pad = max(K - stride, 0)//2
    y = np.zeros((S, L*stride, F))
    for l in range(L):
        for k in range(K):
            n = l*stride + k - pad
            if 0 <= n < L*stride: y[:, n] += x[:, l] @ w[k].T
    return y + b


def test_shapes():
    x, s = keras.Input((8, 6)), keras.Input((16, 4))
    assert tuple(U.unet_conv(x, s).shape) == (None, 16, 6)
    assert tuple(U.fpn_unet(x, s).shape) == (None, 16, 6)
    assert tuple(U.fpn1_unet(x, s).shape) == (None, 16, 4)
    assert tuple(U.unet_concat(x, s).shape) == (None, 16, 4)
    assert tuple(U.upsample_unet(x, s).shape) == (None, 16, 4)
    assert tuple(U.tconv_nac(x, filters=3, kernel_size=3, stride=4).shape) == (None, 32, 3)
    assert tuple(U.concat_unet(x, keras.Input((8, 4))).shape) == (None, 8, 10)
    assert tuple(U.unet_conv(x, keras.Input((24, 4)), stride=3).shape) == (None, 24, 6)


@pytest.mark.parametrize('f,kw,count', [
    # C=5 input, C'=3 skip, K=3; BN: 4 weights per channel
    (U.unet_conv, dict(kernel_size=3), (3*5 + 5) + (3*5 + 5*5 + 5)),
    (U.unet_conv, dict(kernel_size=3, upsample_conv=True, norm_type='batch'),
     4*5 + 4*3 + (5*5 + 5) + (3*5 + 5) + (3*5 + 5*5 + 5)),
    (U.fpn_unet, dict(kernel_size=3, norm_type='layer'), 2*5 + 2*3 + (5*5 + 5) + (3*5 + 5) + (3*5 + 5*5 + 5)),
    (U.fpn1_unet, dict(kernel_size=3, norm_type='batch'), 4*5 + (5*3 + 3) + 3 + (3*3 + 3*3 + 3)),
    (U.unet_concat, dict(kernel_size=5), (8*4 + 4) + (5*4*3 + 3)),                # concat 3+5 -> int(1.5*3) -> 3
    (U.upsample_unet, dict(kernel_size=1, norm_type='batch'), 4*5 + 4*3 + (8*4 + 4) + (4*3 + 3)),
    (U.concat_unet, dict(), 0),
])
def test_parameter_counts_by_hand(f, kw, count):
    x = keras.Input((6, 5)); s = keras.Input((6 if f is U.concat_unet else 12, 3))
    y = f(x, s, **kw)
    assert keras.Model([x, s], y).count_params() == count


def test_tconv_nac_parameter_count_and_kernel_layout():
    x = keras.Input((6, 5))
    m = keras.Model(x, U.tconv_nac(x, filters=7, kernel_size=4, stride=2, norm_type='batch'))
    assert [tuple(w.shape) for w in m.weights] == [(5,), (5,), (5,), (5,), (4, 7, 5), (7,)]   # their order and shapes
    assert m.count_params() == 4*5 + 4*7*5 + 7


@pytest.mark.parametrize('upsample_conv', [False, True])
def test_unet_conv_against_numpy(upsample_conv):
    "BN and gelu on both paths, dense, upsample the input, add the skip, separable conv: float64."
    m = block_model(U.unet_conv, kernel_size=3, norm_type='batch', activation='gelu', upsample_conv=upsample_conv)
    X, S = rand(2, 6, 5), rand(2, 12, 3, seed=3)
    x1 = gelu_np(bn_np(X, *weights(m, 'u_bn')))
    x2 = gelu_np(bn_np(S, *weights(m, 'u_bn1')))
    dn = ['u_dense', 'u_dense1'] if upsample_conv else ['u_dense']
    if upsample_conv: x1 = x1 @ weights(m, dn[0])[0] + weights(m, dn[0])[1]
    x2 = x2 @ weights(m, dn[-1])[0] + weights(m, dn[-1])[1]
    ref = sepconv_np(np.repeat(x1, 2, axis=1) + x2, *weights(m, 'u_sepconv'))
    np.testing.assert_allclose(np.asarray(m([X, S], training=False)), ref, rtol=1e-7,  # Keras rounds gelu's sqrt(2/pi)
                               atol=1e-8)


def test_fpn1_unet_against_numpy():
    m = block_model(U.fpn1_unet, kernel_size=3, norm_type='batch', activation='relu', stride=3)
    X, S = rand(2, 6, 5), rand(2, 18, 3, seed=3)
    w, b = weights(m, 'u_dense')
    x1 = np.repeat(np.maximum(bn_np(X, *weights(m, 'u_bn')), 0) @ w + b, 3, axis=1)
    ref = sepconv_np(x1 + S*weights(m, 'u_scale')[0], *weights(m, 'u_sepconv'))
    np.testing.assert_allclose(np.asarray(m([X, S], training=False)), ref, rtol=1e-10, atol=1e-10)


def test_unet_concat_against_numpy():
    "BN both, concat [skip, upsampled input], act, dense 1.5 C', act, conv to C', add the raw skip."
    m = block_model(U.unet_concat, kernel_size=3, norm_type='batch', activation='gelu', dropout=0.3)
    X, S = rand(2, 6, 5), rand(2, 12, 3, seed=3)
    x1, x2 = bn_np(X, *weights(m, 'u_bn')), bn_np(S, *weights(m, 'u_bn1'))
    h = gelu_np(np.concatenate([x2, np.repeat(x1, 2, axis=1)], -1))
    w, b = weights(m, 'u_dense')
    assert w.shape == (8, 4)                                     # int(1.5*3)
    ref = S + conv_np(gelu_np(h @ w + b), *weights(m, 'u_conv'))
    np.testing.assert_allclose(np.asarray(m([X, S], training=False)), ref, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize('K,stride', [(1, 2), (3, 2), (4, 2), (5, 3), (2, 1)])
def test_tconv_nac_against_numpy(K, stride):
    x = sym(6, 5)
    m = keras.Model(x, U.tconv_nac(x, filters=4, kernel_size=K, stride=stride, norm_type='batch', activation='gelu',
                                   lb=Layers('t_', F64)))
    randomise_weights(m.weights)
    X = rand(2, 6, 5)
    h = gelu_np(bn_np(X, *weights(m, 't_bn')))
    ref = tconv_np(h, *weights(m, 't_conv1dtranspose'), stride)
    np.testing.assert_allclose(np.asarray(m(X, training=False)), ref, rtol=1e-7, atol=1e-8)


def test_upsampling_divides_the_pooling_exactly():
    lb = Layers()
    U.unet_conv(keras.Input((8, 4)), keras.Input((16, 4)), lb=lb)
    assert lb.pool == Fraction(1, 2)
    lb = Layers(); U.tconv_nac(keras.Input((8, 4)), stride=3, lb=lb)
    assert lb.pool == Fraction(1, 3)


def small_unet(second='unet_conv', **kw):
    "conv_dna (pool 2) > res_tower (channels 8, 12, 16; pools 2 each) > two U-net blocks > crop > head."
    return {'seq_length': 256, 'activation': 'gelu', 'norm_type': 'batch',
            'trunk': [{'name': 'conv_dna', 'filters': 6, 'kernel_size': 5, 'pool_size': 2},
                      {'name': 'res_tower', 'filters_init': 8, 'filters_end': 16, 'divisible_by': 4, 'kernel_size': 3,
                       'num_convs': 1, 'repeat': 3},
                      {'name': 'unet_conv', 'kernel_size': 3, 'upsample_conv': True},
                      {'name': second, **({} if second == 'concat_unet' else {'kernel_size': 3}), **kw},
                      {'name': 'Cropping1D', 'cropping': 4}],
            'head': {'name': 'final', 'units': 2, 'activation': 'softplus'}}


def test_seqnn_joins_the_representations_saved_before_pooling():
    s = SeqNN({'model': small_unet()})
    # res_tower saves 128 x 8, 64 x 12, 32 x 16 before its poolings; its output is 16 x 16
    assert s.repr_pools == [1, 2, 16, 8, 4, 4] and s.pool_width == 4 and s.crop_bp == 16
    assert s.output_shape() == (56, 2)                           # 256/4 - 2*4
    # the skips' dense kernels show which representation each U-net block joined: 16, then 12 channels
    assert tuple(s.model.get_layer('trunk2_dense1').kernel.shape) == (16, 16)
    assert tuple(s.model.get_layer('trunk3_dense').kernel.shape) == (12,  # no upsample_conv: the skip's dense alone
                                                                     16)
    hand = 5*4*6 + 4*6 + sum(4*c_in + 3*c_in*c + c for c_in,  # conv_dna (no bias, BN), res_tower (BN, conv)
                             c in ((6, 8), (8, 12), (12, 16)))
    # unet_conv on 16 x 16 / 32 x 16
    hand += 4*16 + 4*16 + (16*16 + 16) + (16*16 + 16) + (3*16 + 16*16 + 16)
    # unet_conv on 32 x 16 / 64 x 12
    hand += 4*16 + 4*12 + (12*16 + 16) + (3*16 + 16*16 + 16)
    hand += 16*2 + 2
    assert s.model.count_params() == hand


def test_seqnn_upsampling_past_the_input_keeps_exact_fractions():
    m = {'seq_length': 32, 'trunk': [{'name': 'conv_dna', 'filters': 4, 'kernel_size': 3},
                                     {'name': 'tconv_nac', 'filters': 4, 'kernel_size': 2, 'stride': 2}],
         'head': {'name': 'final', 'units': 1}}
    s = SeqNN({'model': m})
    assert s.repr_pools == [1, 1, Fraction(1, 2)] and s.pool_width == Fraction(1, 2)
    assert s.output_shape() == (64, 1)
    from genomenn.gradients import gradients  # a 1 bp shift moves this layer by 2 positions
    g = gradients(s, random_1hot(1, 32, dtype=F64), layers=(2,), shifts=(0, 1))
    assert g.grads[0].shape == (1, 1, 64, 4)
    assert all(type(p) is int for p in SeqNN({'model': small_unet()}).repr_pools)   # whole pools stay ints


def test_concat_unet_joins_the_representation_of_its_own_length():
    s = SeqNN({'model': small_unet('concat_unet')})
    assert s.layer_reprs[4].shape[1:] == (32, 16 + 16)            # unet_conv output and res_tower's 32 x 16
    assert s.repr_pools == [1, 2, 16, 8, 8, 8]


def test_unet_block_without_a_skip_is_a_params_error():
    m = small_unet('unet_conv', stride=8)
    with pytest.raises(ParamsError, match=r"model.trunk\[3\].*no earlier representation of 256 positions"):
        SeqNN({'model': m})
    with pytest.raises(ParamsError, match=r"unknown argument\(s\) \['unet_repr'\]"):
        build_block(keras.Input((8, 4)), {'name': 'unet_conv', 'unet_repr': 1})


def test_gradients_map_positions_of_an_upsampled_layer():
    from genomenn.gradients import gradients
    s = SeqNN({'model': small_unet()})
    X = random_1hot(2, 256, dtype=F64)
    g = gradients(s, X, layers=(4,), shifts=(0, 4, -8))          # layer 4: 64 positions of 4 bp, after upsampling
    assert g.grads[0].shape == (2, 2, 64, 16)
    assert np.isfinite(g.grads[0]).all() and np.abs(g.grads[0]).max() > 0


def test_weight_layout_matches_the_baskerville_checkpoint():
    "Borzoi-lite without its transformer: our weighted layers, in order, have the checkpoint's weight shapes."
    import json

    import h5py
    from conftest import shared_path
    h5 = shared_path('models', 'baskerville_eval', 'baskerville__tests__data__eval__model.h5')
    params = json.loads(shared_path('params', 'baskerville__tests__data__eval__params.json').read_text())['model']
    with h5py.File(h5, 'r') as f:
        g = f['model_weights']
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs['layer_names']]
        theirs = [(n, [g[n][w].shape for w in g[n].attrs['weight_names']]) for n in names]
    theirs = [t for t in theirs if t[1]]
    first = next(i for i, (n, _) in enumerate(theirs) if n.startswith('layer_normalization'))
    after = next(i for i, (n, _) in enumerate(theirs) if i > first and n.startswith('batch_normalization'))
    theirs = theirs[:first] + theirs[after:]                       # the transformer tower left out
    params['trunk'] = [b for b in params['trunk'] if b['name'] != 'transformer_tower']
    s = SeqNN({'model': params})
    ours = [[tuple(w.shape) for w in l.weights] for l in s.models[0].layers if l.weights]
    assert ours == [[tuple(x) for x in shapes] for _, shapes in theirs]
    assert [n for n, _ in theirs][-11:] == ['batch_normalization_6', 'batch_normalization_7', 'dense_4', 'dense_5',
                                            'separable_conv1d', 'batch_normalization_8', 'batch_normalization_9',
                                            'dense_6', 'dense_7', 'separable_conv1d_1',  # two unet_conv, head
                                            'dense_8']
