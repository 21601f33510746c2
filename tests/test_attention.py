"""Attention blocks (genomenn.attention): positional features, relative shift and multi-head attention against float64
numpy written from the definitions, hand parameter counts, the registry, and the Enformer counts."""
import json
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras
import numpy as np
import pytest
from conftest import shared_path
from helpers import F64, rand, sym
from references import layer_norm as np_layer_norm
from scipy.special import gamma as gamma_fn

from genomenn.attention import (
    MultiheadAttention,
    positional_features,
    positional_features_central_mask,
    positional_features_exponential,
    positional_features_gamma,
    relative_shift,
    swin_transformer,
    transformer,
    transformer_tower,
)
from genomenn.blocks import Layers, block_args, block_names, build_block
from genomenn.params import ParamsError


# ---- float64 references written from the definitions ----
def np_central_mask(d, F, L):
    "Feature i (1..F) is 1 where |d| < (L+1)**(i/F) - 1."
    widths = (L + 1.)**(np.arange(1, F + 1)/F) - 1
    return (widths[None] > np.abs(d)[:, None]).astype(float)


def np_exponential(d, F, L, min_half_life=3.):
    half = 2.**np.linspace(min_half_life, np.log2(L), F)
    return np.exp(-np.log(2)*np.abs(d)[:, None]/half[None])


def np_gamma(d, F, L):
    sd = L/(2*F); mean = np.linspace(L/F, L, F)
    k, theta = (mean/sd)**2, sd**2/mean                     # shape and scale of each density
    x = np.abs(d)[:, None].astype(float)
    with np.errstate(divide='ignore', invalid='ignore'):
        p = np.where(x > 0, x**(k - 1)*np.exp(-x/theta)/(gamma_fn(k)*theta**k), 0.) + 1e-8
    return p/p.max()


def np_features(d, F, L, symmetric=False):
    half = np_central_mask(d, F if symmetric else F//2, L)
    return half if symmetric else np.concatenate([half, np.sign(d)[:, None]*half], 1)


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True)); return e/e.sum(-1, keepdims=True)


def np_mha(x, W, H, K, V, F, L=None, cpb=True, symmetric=False):
    "Relative-position multi-head attention, float64, from the definition (no reshape tricks)."
    rw, rr, wq, wk, wv, we, be, wr = W
    B, T, _ = x.shape
    heads = lambda a, c: a.reshape(B, T, H, c).transpose(0, 2, 1, 3)
    q, k, v = heads(x @ wq, K)/np.sqrt(K), heads(x @ wk, K), heads(x @ wv, V)
    logits = np.einsum('bhik,bhjk->bhij', q + rw, k)
    d = np.arange(-T + 1, T)
    rk = (np_features(d, F, L or T, symmetric) @ wr).reshape(2*T - 1, H, K)      # (2T-1, H, K)
    qr = q + rr if cpb else np.broadcast_to(rr, q.shape)
    for i in range(T):
        for j in range(T):
            logits[:, :, i, j] += np.einsum('bhk,hk->bh', qr[:, :, i], rk[(j - i) + T - 1])   # distance j - i
    out = np.einsum('bhij,bhjv->bihv', np_softmax(logits), v).reshape(B, T, H*V)
    return out @ we + be





def random_weights(layer, seed=1, scale=0.4):
    ws = [rand(*w.shape, seed=seed + i, scale=scale) for i, w in enumerate(layer.weights)]
    layer.set_weights(ws)
    return ws


# ---- positional features ----
@pytest.mark.parametrize('L,F', [(8, 3), (32, 8), (1536, 16), (1024, 16), (300, 5)])
def test_central_mask_matches_the_definition(L, F):
    d = np.arange(-L + 1, L)
    np.testing.assert_array_equal(positional_features_central_mask(d, F, L), np_central_mask(d, F, L))


def test_exponential_and_gamma_match_the_definition():
    d = np.arange(-63, 64)
    np.testing.assert_allclose(positional_features_exponential(d, 6, 64), np_exponential(d, 6, 64), rtol=1e-12)
    np.testing.assert_allclose(positional_features_gamma(d, 6, 64), np_gamma(d, 6, 64), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(positional_features_exponential(d, 6), np_exponential(d, 6, 64),  # L = max|d| + 1
                               rtol=1e-12)


def test_positional_features_split_among_bases_and_signs():
    d = np.arange(-15, 16)
    f = positional_features(d, 12, 16, feature_functions=['exponential', 'central_mask', 'gamma'])
    np.testing.assert_allclose(f[:, :2], np_exponential(d, 2, 16), rtol=1e-6)
    np.testing.assert_array_equal(f[:, 2:4], np_central_mask(d, 2, 16))
    np.testing.assert_allclose(f[:, 4:6], np_gamma(d, 2, 16), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(f[:, 6:], np.sign(d)[:, None]*f[:, :6])
    np.testing.assert_array_equal(positional_features(d, 4, 16, symmetric=True), np_central_mask(d, 4, 16))
    with pytest.raises(ParamsError, match='multiple of 2'): positional_features(d, 5, 16)
    with pytest.raises(ParamsError, match='unknown basis'): positional_features(d, 4, 16, feature_functions=['cosine'])


# ---- relative shift ----
def test_relative_shift_by_hand():
    T = 4
    x = np.arange(2*T*(2*T - 1), dtype='float64').reshape(1, 2, T, 2*T - 1)
    want = np.empty((1, 2, T, T))
    for i in range(T):
        for j in range(T): want[..., i, j] = x[..., i, T - 1 + j - i]   # column of distance j - i
    np.testing.assert_array_equal(np.asarray(relative_shift(x)), want)
    small = np.array([[[[1., 2, 3], [4, 5, 6]]]])                     # T = 2: distances -1, 0, 1
    np.testing.assert_array_equal(np.asarray(relative_shift(small)), [[[[2, 3], [4, 5]]]])


# ---- multi-head attention ----
def mha64(**kw):
    return MultiheadAttention(value_size=3, key_size=4, heads=2, num_position_features=6, dtype=F64, **kw)


def test_mha_weights_order_shapes_and_count():
    l = mha64(); l.build((None, 8, 5))
    assert [w.path.split('/')[-1] for w in l.weights] == ['r_w_bias', 'r_r_bias', 'kernel', 'kernel', 'kernel',
                                                          'kernel', 'bias', 'kernel']
    assert [tuple(w.shape) for w in l.weights] == [(1, 2, 1, 4), (1, 2, 1, 4), (5, 8), (5, 8), (5, 6), (6, 6), (6,),
                                                   (6, 8)]
    assert l.count_params() == 2*8 + 5*8 + 5*8 + 5*6 + 6*6 + 6 + 6*8
    l0 = MultiheadAttention(value_size=3, key_size=4, heads=2, num_position_features=0); l0.build((None, 8, 5))
    assert len(l0.weights) == 7                                  # no positional projection without features
    l3 = MultiheadAttention(value_size=3, key_size=4, heads=2, qkv_width=3); l3.build((None, 8, 5))
    assert [tuple(w.shape) for w in l3.weights][2:4] == [(3, 5, 1), (1, 5, 8)]     # separable q: depthwise, pointwise
    assert MultiheadAttention(value_size=64, key_size=8, heads=1).num_position_features == 64
    assert MultiheadAttention(value_size=63, key_size=8, heads=1,
                              relative_position_functions=['central_mask', 'gamma']).num_position_features == 60


@pytest.mark.parametrize('kw', [{}, {'content_position_bias': False}, {'seqlen_train': 20},
                                {'relative_position_symmetric': True}])
def test_mha_forward_matches_numpy(kw):
    l = mha64(zero_initialize=False, **kw)
    x = rand(2, 8, 5, seed=3)
    l(x)
    W = random_weights(l)
    want = np_mha(x, W, H=2, K=4, V=3, F=6, L=kw.get('seqlen_train'), cpb=kw.get('content_position_bias', True),
                  symmetric=kw.get('relative_position_symmetric', False))
    np.testing.assert_allclose(np.asarray(l(x, training=False)), want, rtol=1e-10, atol=1e-12)


def test_mha_dropout_only_in_training():
    l = mha64(zero_initialize=False, attention_dropout_rate=0.5, positional_dropout_rate=0.5, seed=0)
    x = rand(2, 8, 5, seed=4); l(x)
    W = random_weights(l)
    want = np_mha(x, W, H=2, K=4, V=3, F=6)
    np.testing.assert_allclose(np.asarray(l(x, training=False)), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(l(x)), want, rtol=1e-10, atol=1e-12)       # inference by default
    assert np.abs(np.asarray(l(x, training=True)) - want).max() > 1e-3


def test_mha_zero_initialised_output_and_errors():
    x = rand(1, 8, 5).astype('float32')
    assert np.abs(np.asarray(MultiheadAttention(3, 4, 2)(x))).max() == 0
    with pytest.raises(ParamsError, match='gated'): MultiheadAttention(3, 4, 2, gated=True)
    with pytest.raises(ParamsError, match='key_size'): MultiheadAttention(3, None, 2)


# ---- blocks ----
def test_transformer_block_matches_numpy():
    i = sym(8, 4)
    m = keras.Model(i, transformer(i, key_size=3, heads=2, num_position_features=4, dropout=0.3, lb=Layers('t_', F64)))
    x = rand(2, 8, 4, seed=5)
    W = random_weights(m, scale=0.5)
    g1, b1, *mw, g2, b2, k1, c1, k2, c2 = W
    h = x + np_mha(np_layer_norm(x, g1, b1), mw, H=2, K=3, V=2, F=4)
    want = h + np.maximum(np_layer_norm(h, g2, b2) @ k1 + c1, 0) @ k2 + c2
    np.testing.assert_allclose(np.asarray(m(x, training=False)), want, rtol=1e-9, atol=1e-10)


def test_block_shapes_and_counts():
    C, H, K, Fp = 8, 2, 4, 4
    mha = 2*H*K + 2*C*H*K + C*C + C*C + C + Fp*H*K
    block = 2*C + mha + 2*C + (C*2*C + 2*C) + (2*C*C + C)
    i = keras.Input((16, C))
    for bt, per in [('transformer', 1), ('swin', 2)]:
        m = keras.Model(i, transformer_tower(i, repeat=3, block_type=bt, key_size=K, heads=H, num_position_features=Fp))
        assert tuple(m.output.shape) == (None, 16, C)
        assert m.count_params() == 3*per*block
    m = keras.Model(i, transformer(i, key_size=K, heads=H, num_position_features=Fp, dense_expansion=0))
    assert m.count_params() == 2*C + mha


def test_registry_and_build_block():
    assert {'transformer', 'transformer_tower', 'swin_transformer'} <= block_names()
    assert {'repeat', 'block_type', 'key_size', 'mha_l2_scale', 'seqlen_train'} <= block_args('transformer_tower')
    i = keras.Input((16, 8))
    y = build_block(i, {'name': 'transformer_tower', 'key_size': 4, 'heads': 2, 'repeat': 2,
                        'num_position_features': 4},
                    globals_={'activation': 'gelu', 'norm_type': 'batch', 'l2_scale': 1e-8,
                              'kernel_initializer': 'lecun_normal'})
    assert tuple(y.shape) == (None, 16, 8)
    with pytest.raises(ParamsError, match='unknown argument'):
        build_block(i, {'name': 'transformer', 'key_size': 4, 'splits': 2})
    with pytest.raises(ParamsError, match='block_type'):
        build_block(i, {'name': 'transformer_tower', 'key_size': 4, 'block_type': 'transformer2'})
    with pytest.raises(ParamsError, match='multiple of 4'):
        swin_transformer(keras.Input((18, 8)), key_size=4, heads=2)


def test_enformer_counts():
    from genomenn.model import SeqNN
    p = shared_path('params', 'basenji__manuscripts__enformer__params_enformer.json')
    want = json.load(open(shared_path('reference', 'params_reference_counts.json')))['files'][p.name]['baskerville']
    s = SeqNN(p)
    assert [m.count_params() for m in s.models] == want == [177457505, 168998155]
