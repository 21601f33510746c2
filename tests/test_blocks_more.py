"""More Basenji-family blocks (genomenn.blocks): each checked for shape, a hand count of its parameters and a numeric
property against float64 numpy written from Basenji's definition."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras
import numpy as np
import pytest
from helpers import F64, rand, sym
from keras import layers as kl
from references import layer_norm
from references import sepconv_same as np_sepconv_same

from genomenn import blocks as B
from genomenn.blocks import ConcatPosition, GlobalContext, Layers, SoftmaxPool1D, SqueezeExcite, build_block
from genomenn.params import ParamsError


def run(m, X): return np.asarray(m(X, training=False))


def model(block, L, C, lb=None, **kw):
    "A float64 model of one block dictionary on (L, C) inputs, with its layer builder."
    lb = lb or Layers('b_', F64)
    i = sym(L, C)
    return keras.Model(i, build_block(i, {'name': block, **kw}, lb=lb)), lb


def randomise(m, seed=1):
    "Give every weight a random value (variances positive), so no initialiser hides a mistake."
    rng = np.random.default_rng(seed)
    for v in m.weights:
        a = rng.normal(size=v.shape)*0.5
        v.assign(np.abs(a) + 0.5 if 'variance' in v.path else a)


def weights(layer): return [np.asarray(v) for v in layer.weights]


def relu(x): return np.maximum(x, 0)


def sigmoid(x): return 1/(1 + np.exp(-x))


def softmax(z, axis):
    e = np.exp(z - z.max(axis, keepdims=True)); return e/e.sum(axis, keepdims=True)


def np_softmax_pool(x, p, kernel):
    "Basenji's softmax pooling: windows of p positions, weights softmax over the window of x @ kernel."
    S, L, C = x.shape
    xw = x.reshape(S, L//p, p, C)
    return (xw*softmax(xw @ kernel, axis=2)).sum(2)


# ---- conv_next and convnext_tower -------------------------------------------------------------------------------

def np_conv_next(x, ws, activation=relu, residual=False):
    (dw, pw, b), (g, be), (k1, b1), (k2, b2) = ws
    h = layer_norm(np_sepconv_same(x, dw, pw, b), g, be, 1e-5)
    h = activation(h @ k1 + b1) @ k2 + b2
    return x + h if residual else h


def test_conv_next_against_numpy():
    C, F, K, E = 6, 6, 5, 3
    m, _ = model('conv_next', 14, C, filters=F, kernel_size=K, dense_expansion=E, residual=True)
    randomise(m)
    # separable conv (depthwise K*C, pointwise C*F, bias F), layer norm 2F, dense F -> E*F, dense E*F -> F
    assert m.count_params() == K*C + C*F + F + 2*F + (F*E*F + E*F) + (E*F*F + F)
    wl = [weights(l) for l in m.layers if l.weights]
    assert [type(l).__name__ for l in m.layers if l.weights] == ['SeparableConv1D', 'LayerNormalization', 'Dense',
                                                                 'Dense']
    X = rand(2, 14, C)
    np.testing.assert_allclose(run(m, X), np_conv_next(X, wl, residual=True), rtol=1e-9, atol=1e-10)
    assert m.output.shape[1:] == (14, F)


def test_convnext_tower_schedule_count_and_zero_scale():
    m, lb = model('convnext_tower', 32, 4, filters_init=6, filters_mult=1.5, kernel_size=3, repeat=2, num_convs=2)
    assert m.output.shape[1:] == (8, 9) and lb.pool == 4
    def cn(c, f, k=3, e=2): return k*c + c*f + f + 2*f + (f*e*f + e*f) + (e*f*f + f)
    assert m.count_params() == cn(4, 6) + cn(6, 6) + 6 + cn(6, 9) + cn(9, 9) + 9      # two Scales
    # the Scale starts at zero: each repeat's output is its first conv_next, max-pooled by 2
    randomise(m); m.get_layer('b_scale').scale.assign(np.zeros(6))
    X = rand(2, 32, 4, seed=3)
    first = [weights(l) for l in m.layers if l.weights][:4]
    ref = np_conv_next(X, first)
    ref = ref.reshape(2, 16, 2, 6).max(2)
    out1 = keras.Model(m.input, m.get_layer('b_maxpool').output)
    np.testing.assert_allclose(run(out1, X), ref, rtol=1e-9, atol=1e-10)


def test_conv_tower_v1_rounds_filters_when_used():
    m, lb = model('conv_tower_v1', 32, 4, filters_init=5, filters_mult=1.3, repeat=3, kernel_size=3, pool_size=2)
    convs = [l for l in m.layers if isinstance(l, kl.Conv1D)]
    assert [c.filters for c in convs] == [5, 6, 8]              # 5, 6.5 -> 6 (half to even), 8.45 -> 8
    assert m.count_params() == (3*4*5 + 5) + (3*5*6 + 6) + (3*6*8 + 8) and lb.pool == 8


# ---- squeeze-excite ---------------------------------------------------------------------------------------------

def np_squeeze_excite(x, k1, b1, k2, b2, additive=False):
    x = relu(x)
    e = relu(x.mean(1) @ k1 + b1) @ k2 + b2
    return x + e[:, None] if additive else x*sigmoid(e)[:, None]


@pytest.mark.parametrize('additive', [False, True])
def test_squeeze_excite_gate_against_numpy(additive):
    C, r = 16, 4
    m, _ = model('squeeze_excite', 9, C, bottleneck_ratio=r, additive=additive)
    randomise(m)
    se = m.layers[-1]; assert isinstance(se, SqueezeExcite)
    assert m.count_params() == C*(C//r) + C//r + (C//r)*C + C
    X = rand(3, 9, C, seed=2)
    np.testing.assert_allclose(run(m, X), np_squeeze_excite(X, *weights(se), additive=additive), rtol=1e-10, atol=1e-12)


def test_squeeze_excite_normalisation_starts_at_zero_and_orders_weights_as_basenji():
    C = 16
    m, _ = model('squeeze_excite', 5, C, norm_type='batch')
    se = m.layers[-1]
    assert [tuple(w.shape) for w in se.weights] == [(C, 2), (2,), (2, C), (C,), (C,), (C,), (C,), (C,)]
    assert m.count_params() == C*2 + 2 + 2*C + C + 4*C
    X = rand(2, 5, C, seed=4)
    np.testing.assert_allclose(run(m, X), relu(X)*0.5, rtol=1e-12)   # gamma 0, beta 0: the gate is sigmoid(0)
    with pytest.raises(ParamsError, match="no bottleneck units at bottleneck_ratio 8"):
        model('squeeze_excite', 5, 4)


def test_se_option_of_conv_dna_and_conv_nac():
    m, _ = model('conv_dna', 24, 4, filters=16, kernel_size=7, se=True, norm_type='batch', pool_size=2)
    assert [type(l).__name__ for l in m.layers if l.weights] == ['Conv1D', 'SqueezeExcite', 'BatchNormalization']
    assert m.count_params() == 7*4*16 + (16*2 + 2 + 2*16 + 16) + 4*16
    m, _ = model('conv_nac', 24, 8, filters=16, kernel_size=3, se=True)
    randomise(m)
    conv, se = [l for l in m.layers if l.weights]
    w, b = weights(conv)
    X = rand(2, 24, 8, seed=5)
    xp = np.pad(relu(X), ((0, 0), (1, 1), (0, 0)))
    h = sum(xp[:, k:k + 24] @ w[k] for k in range(3)) + b
    np.testing.assert_allclose(run(m, X), np_squeeze_excite(h, *weights(se)), rtol=1e-10, atol=1e-12)


# ---- global context ---------------------------------------------------------------------------------------------

def test_global_context_against_numpy():
    C = 8
    m, _ = model('global_context', 10, C)
    randomise(m)
    gc = m.layers[-1]; assert isinstance(gc, GlobalContext)
    kk, kb, k1, b1, g, be, k2, b2 = weights(gc)
    assert m.count_params() == (C + 1) + (C*C//4 + C//4) + 2*(C//4) + (C//4*C + C)
    X = rand(2, 10, C, seed=6)
    att = softmax(X @ kk + kb, axis=1)                          # over positions
    ctx = (X*att).sum(1, keepdims=True)
    ref = X + relu(layer_norm(ctx @ k1 + b1, g, be, 1e-3)) @ k2 + b2
    np.testing.assert_allclose(run(m, X), ref, rtol=1e-10, atol=1e-12)


# ---- pooling ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('per_channel', [False, True])
def test_softmax_pooling_weights_against_numpy(per_channel):
    C = 5
    i = sym(12, C); layer = SoftmaxPool1D(3, per_channel=per_channel, dtype=F64)
    m = keras.Model(i, layer(i))
    assert m.count_params() == C*(C if per_channel else 1)
    X = rand(2, 12, C, seed=7)
    k0 = weights(layer)[0]
    np.testing.assert_allclose(k0, 2*np.eye(C, C if per_channel else 1))   # Identity(init_gain 2)
    np.testing.assert_allclose(run(m, X), np_softmax_pool(X, 3, k0), rtol=1e-12)
    randomise(m)
    np.testing.assert_allclose(run(m, X), np_softmax_pool(X, 3, weights(layer)[0]), rtol=1e-12)
    assert m.output.shape[1:] == (4, C)


def test_pool_types_as_basenji_builds_them():
    m, lb = model('conv_block', 16, 4, filters=6, kernel_size=3, pool_size=4, pool_type='softmax', norm_type='batch')
    assert m.count_params() == 3*4*6 + 4*6 + 6 and lb.pool == 4 and m.output.shape[1:] == (4, 6)
    m, _ = model('res_tower', 16, 4, filters_init=6, filters_mult=1., kernel_size=3, repeat=1, pool_type='softmax')
    assert sum(isinstance(l, SoftmaxPool1D) for l in m.layers) == 1
    with pytest.warns(UserWarning, match="pool_type 'average': Basenji builds max pooling"):
        m, _ = model('conv_block', 16, 4, filters=6, pool_size=2, pool_type='average')
    assert any(isinstance(l, kl.MaxPooling1D) for l in m.layers)


def test_batch_sync_is_synchronised_batch_norm():
    m, _ = model('conv_block', 8, 4, filters=3, norm_type='batch-sync')
    bn = [l for l in m.layers if isinstance(l, kl.BatchNormalization)]
    assert len(bn) == 1 and bn[0].synchronized and m.count_params() == 4*3 + 4*3


def test_separable_convolutions_ignore_initialiser_and_penalty_as_basenji():
    m, _ = model('conv_block', 8, 4, filters=3, kernel_size=3, conv_type='separable', l2_scale=0.1)
    sep = [l for l in m.layers if isinstance(l, kl.SeparableConv1D)][0]
    assert sep.pointwise_regularizer is None and type(sep.pointwise_initializer).__name__ == 'GlorotUniform'
    assert m.count_params() == 3*4 + 4*3 + 3


# ---- center, position, factor, exp ------------------------------------------------------------------------------

@pytest.mark.parametrize('L,center', [(12, 5), (11, 4), (11, 11), (8, 1)])
def test_center_slice_and_average_positions(L, center):
    X = rand(2, L, 3, seed=8)
    start = (L - center)//2                                     # Basenji: (seq_len - center) // 2
    m, lb = model('center_slice', L, 3, center=center)
    np.testing.assert_array_equal(run(m, X), X[:, start:start + center])
    assert m.count_params() == 0 and lb.crop_left == start
    m, lb = model('center_average', L, 3, center=center)
    np.testing.assert_allclose(run(m, X), X[:, start:start + center].mean(1, keepdims=True), rtol=1e-12)
    assert m.output.shape[1:] == (1, 3)


@pytest.mark.parametrize('transform,power', [('abs', 1), (None, 1), ('reversed', 2), ('abs', 3)])
@pytest.mark.parametrize('L', [7, 10])
def test_concat_position_against_numpy(transform, power, L):
    pos = np.arange(-(L//2) - (L % 2), L//2)                    # tf.range(-L//2, L//2): floor division
    pos = {'abs': np.abs(pos), None: pos, 'reversed': pos[::-1]}[transform]**power
    X = rand(2, L, 3, seed=9)
    m, _ = model('concat_position', L, 3, transform=transform, power=power)
    out = run(m, X)
    np.testing.assert_array_equal(out[..., 0], np.broadcast_to(pos, (2, L)))
    np.testing.assert_array_equal(out[..., 1:], X)
    assert m.count_params() == 0 and out.shape == (2, L, 4)
    with pytest.raises(ParamsError, match="key 'transform': expected one of"):
        ConcatPosition('square')


def test_factor_inverse_reads_its_components(tmp_path):
    comp = rand(6, 4, seed=10); f = tmp_path/'pca.npy'; np.save(f, comp)
    X = rand(2, 5, 6, seed=11)
    m, _ = model('factor_inverse', 5, 6, components_file=str(f))
    np.testing.assert_allclose(run(m, X), X @ comp, rtol=1e-12)
    assert m.count_params() == 0 and m.output.shape[1:] == (5, 4)
    missing = str(tmp_path/'nope.npy')
    with pytest.raises(ParamsError,
                       match=r"key 'model.head\[1\]': block 'factor_inverse': key 'components_file': components file "
                             rf"not found: '{missing}'"):
        build_block(sym(5, 6), {'name': 'factor_inverse', 'components_file': missing}, where='model.head[1]')
    with pytest.raises(ParamsError, match="the input has 3 channels but .* has 6 factors"):
        model('factor_inverse', 5, 3, components_file=str(f))


def test_exp_block():
    X = rand(2, 4, 3, seed=12)
    m, _ = model('exp', 4, 3)
    np.testing.assert_allclose(run(m, X), np.exp(X), rtol=1e-12)
    m, _ = model('exp', 4, 3, base=2., minus=1.)
    np.testing.assert_allclose(run(m, X), 2**X - 1, rtol=1e-12)
    assert m.count_params() == 0
    m, _ = model('conv_block', 4, 3, filters=2, activation='exp')   # the activation 'exp' is Basenji's Exp
    assert any(isinstance(l, B.Exp) for l in m.layers)


# ---- flattening, final, Keras layers ----------------------------------------------------------------------------

def test_flattening_blocks_keep_one_position():
    X = rand(2, 5, 4, seed=13)
    m, lb = model('final', 5, 4, units=3, flatten=True, activation='softplus')
    (k, b), = [weights(l) for l in m.layers if l.weights]
    np.testing.assert_allclose(run(m, X), np.log1p(np.exp(X.reshape(2, 1, 20) @ k + b)), rtol=1e-10)
    assert m.output.shape[1:] == (1, 3) and lb.flat and m.count_params() == 20*3 + 3
    m, _ = model('dense_nac', 5, 4, units=7, flatten=True, norm_type='batch')
    assert m.output.shape[1:] == (1, 7) and m.count_params() == 4*4 + 20*7 + 7


def test_final_gelu_is_keras_exact_gelu():
    from scipy.special import erf
    X = rand(2, 5, 4, seed=14)
    m, _ = model('final', 5, 4, units=3, activation='gelu')
    (k, b), = [weights(l) for l in m.layers if l.weights]
    z = X @ k + b
    np.testing.assert_allclose(run(m, X), 0.5*z*(1 + erf(z/np.sqrt(2))), rtol=1e-7, atol=1e-9)


def test_keras_blocks_take_only_their_own_keys():
    glob = {'activation': 'gelu', 'padding': 'same', 'kernel_initializer': 'zeros', 'l2_scale': 0.1}
    lb = Layers('k_', F64); i = sym(20, 4)
    y = build_block(i, {'name': 'Conv1D', 'filters': 6, 'kernel_size': 5}, globals_=glob, lb=lb)
    conv = keras.Model(i, y).layers[-1]
    assert conv.padding == 'valid' and conv.get_config()['activation'] == 'linear'   # Keras' defaults, no globals
    assert y.shape[1:] == (16, 6) and conv.count_params() == 5*4*6 + 6 and lb.crop_left == 2
    y2 = build_block(y, {'name': 'Dense', 'units': 3}, globals_=glob, lb=lb)
    y3 = build_block(y2, {'name': 'Flatten'}, globals_=glob, lb=lb)
    assert y2.shape[1:] == (16, 3) and y3.shape[1:] == (48,) and lb.flat
    assert keras.Model(i, y3).count_params() == 5*4*6 + 6 + 6*3 + 3


def test_dilated_dense_ignores_dropout_as_basenji():
    with pytest.warns(UserWarning, match='dropout 0.2 is ignored'):
        m, _ = model('dilated_dense', 16, 4, filters=3, repeat=2, dropout=0.2)
    assert not any(isinstance(l, kl.Dropout) for l in m.layers)


def test_new_blocks_are_registered():
    need = {'conv_next', 'convnext_tower', 'squeeze_excite', 'global_context', 'center_slice', 'center_average',
            'concat_position', 'factor_inverse', 'exp', 'conv_tower_v1', 'Conv1D', 'Dense', 'Flatten', 'Cropping1D'}
    assert need <= B.block_names()
    assert {'se', 'pool_type'} <= B.block_args('conv_dna') and {'dense_expansion',
                                                                'num_convs'} <= B.block_args('convnext_tower')
