"""The block registry (genomenn.blocks): numbers against float64 numpy references, Basenji's schedules, errors."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras
import numpy as np
import pytest
from helpers import F64, rand, sym
from keras import layers as kl
from references import conv_same as np_conv_same
from references import gelu_tanh as gelu_np

from genomenn import blocks as B
from genomenn.blocks import (
    GELU,
    Layers,
    Link,
    WheezeExcite,
    block_args,
    block_names,
    build_block,
    check_buildable,
    dilation_rates,
    legacy_conv,
    tower_filters,
)
from genomenn.params import BLOCK_VOCABULARY, ConvParams, ParamsError


def np_maxpool_same(x, p):
    S, L, C = x.shape; n = -(-L//p)
    xp = np.pad(x, ((0, 0), (0, n*p - L), (0, 0)), constant_values=-np.inf)
    return xp.reshape(S, n, p, C).max(2)


def run(m, X):
    "Inference-mode outputs (Model.predict would round float64 arrays to float32)."
    out = m(X, training=False)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def gelu_sigmoid_np(x): return x/(1 + np.exp(-1.702*x))


def test_registry_has_the_required_blocks():
    need = {'conv_dna', 'conv_block', 'conv_tower', 'res_tower', 'conv_nac', 'dilated_residual', 'dense_block',
            'dense', 'Cropping1D', 'final'}
    assert need <= block_names()
    assert block_names() <= BLOCK_VOCABULARY            # only Basenji-family names


def test_gelu_is_the_tanh_approximation_with_the_sigmoid_form_as_an_option():
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(np.asarray(GELU(dtype=F64)(x)), gelu_np(x), rtol=1e-7,  # Keras rounds sqrt(2/pi)
                               atol=1e-8)
    np.testing.assert_allclose(np.asarray(GELU('sigmoid', dtype=F64)(x)), gelu_sigmoid_np(x), rtol=1e-12)
    from scipy.special import erf
    exact = 0.5*x*(1 + erf(x/np.sqrt(2)))
    np.testing.assert_allclose(np.asarray(GELU('erf', dtype=F64)(x)), exact, rtol=1e-7, atol=1e-8)
    assert 0.01 < np.abs(gelu_sigmoid_np(x) - gelu_np(x)).max() < 0.03   # the forms really differ
    i = sym(5, 3)
    for form, ref in (('tanh', gelu_np), ('sigmoid', gelu_sigmoid_np)):
        m = keras.Model(i, B.activate(i, 'gelu', Layers('g_', F64, gelu=form)))
        X = rand(2, 5, 3)
        np.testing.assert_allclose(run(m, X), ref(X), rtol=1e-7, atol=1e-8)
    with pytest.raises(ParamsError, match="gelu: expected one of"):
        GELU('fast')


@pytest.mark.parametrize('link,ref', [
    ('softplus', lambda x: np.log1p(np.exp(np.maximum(x, -50)))),
    ('exp', lambda x: np.exp(np.clip(x, -50, 50))),
    ('exp_linear', lambda x: np.where(x > 0, x + 1, np.exp(np.clip(x, -50, 50)))),
    ('relu', lambda x: np.maximum(x, 0)), ('linear', lambda x: x)])
def test_links(link, ref):
    x = np.array([-80., -3., -0.5, 0., 0.7, 4.])
    np.testing.assert_allclose(np.asarray(Link(link, dtype=F64)(x)), ref(x), rtol=1e-12, atol=1e-300)
    clipped = np.asarray(Link(link, target_clip=2., target_sqrt=True, dtype=F64)(x))
    np.testing.assert_allclose(clipped, np.sqrt(np.clip(ref(x), 0, 2)), rtol=1e-12, atol=1e-150)


def test_conv_block_against_numpy():
    "relu -> conv ('same', bias) -> max pool, Basenji's order, checked in float64."
    X = rand(3, 13, 4)
    i = sym(13, 4); m = keras.Model(i, B.conv_block(i, filters=5, kernel_size=3, dilation_rate=2, pool_size=2,
                                                    lb=Layers('c_', F64)))
    conv = m.get_layer('c_conv'); w, b = (np.asarray(v) for v in conv.weights)
    ref = np_maxpool_same(np_conv_same(np.maximum(X, 0), w, b, dilation=2), 2)
    np.testing.assert_allclose(run(m, X), ref, rtol=1e-10, atol=1e-12)
    assert m.output.shape[1] == 7                # 'same' pooling rounds 13/2 up


def test_conv_nac_normalises_and_activates_before_the_convolution():
    X = rand(2, 10, 3, seed=1)
    i = sym(10, 3); m = keras.Model(i, B.conv_nac(i, filters=4, kernel_size=3, activation='gelu', norm_type='layer',
                                                  lb=Layers('n_', F64)))
    mu, sd = X.mean(-1, keepdims=True), X.std(-1, keepdims=True)
    ln = (X - mu)/np.sqrt(sd**2 + 1e-3)          # LayerNormalization epsilon 1e-3, gamma 1, beta 0
    w, b = (np.asarray(v) for v in m.get_layer('n_conv').weights)
    np.testing.assert_allclose(run(m, X), np_conv_same(gelu_np(ln), w, b), rtol=1e-7, atol=1e-8)


def test_conv_dna_residual_branch_starts_switched_off():
    X = rand(2, 20, 4, seed=2)
    i = sym(20, 4)
    m = keras.Model(i, B.conv_dna(i, filters=6, kernel_size=5, residual=True, norm_type='batch', lb=Layers('d_', F64)))
    w = np.asarray(m.get_layer('d_conv').weights[0])
    assert len(m.get_layer('d_conv').weights) == 1      # no bias with residual, as Basenji
    np.testing.assert_allclose(run(m, X), np_conv_same(X, w), rtol=1e-10, atol=1e-12)


def test_tower_filter_schedules():
    # independent: geometric growth from init to end over repeat-1 steps, rounded to the multiple
    for init, end, div, rep in [(288, 512, 16, 6), (608, 1536, 32, 6), (40, 64, 4, 4)]:
        ref = [int(np.round(init*(end/init)**(i/(rep - 1))/div)*div) for i in range(rep)]
        assert tower_filters(init, filters_end=end, divisible_by=div, repeat=rep) == ref
        assert ref[0] == init and ref[-1] == end
    assert tower_filters(339, filters_mult=1.1776, repeat=6) == [339, 399, 470, 554, 652, 768]
    with pytest.raises(ParamsError, match='needs filters_mult or filters_end'):
        tower_filters(8, repeat=3)


def test_dilation_schedules():
    assert dilation_rates(1.5, 11, round=True) == [1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72]   # cross2020
    assert dilation_rates(2, 6) == [1, 2, 4, 8, 16, 32]                                       # tutorial params_small
    assert dilation_rates(1.75, 4) == [1, 2, 3, 5]                                             # 1, 1.75, 3.06, 5.36


def test_dilated_residual_is_identity_at_initialisation_and_dilates():
    X = rand(2, 40, 6, seed=3)
    for norm in ('batch', None):
        i = sym(40, 6)
        m = keras.Model(i, B.dilated_residual(i, filters=4, rate_mult=2, repeat=3, norm_type=norm, dropout=0.2,
                                              lb=Layers('r_', F64)))
        np.testing.assert_allclose(run(m, X), X, rtol=0, atol=1e-12)
        k3 = [l for l in m.layers if isinstance(l, kl.Conv1D) and l.kernel_size[0] == 3]
        assert [l.dilation_rate[0] for l in k3] == [1, 2, 4]


def test_res_tower_and_pool_tracking():
    lb = Layers('t_', F64)
    y = B.res_tower(sym(96, 4), filters_init=8, filters_end=16, kernel_size=5, pool_size=2, repeat=3, lb=lb)
    assert tuple(y.shape[1:]) == (12, 16) and lb.pool == 8
    lb = Layers('s_', F64)
    y = B.conv_block(sym(96, 4), filters=3, stride=2, pool_size=3, lb=lb)
    assert tuple(y.shape[1:]) == (16, 3) and lb.pool == 6


def test_dense_block_flattens_positions_first():
    X = rand(2, 3, 4, seed=4)
    i = sym(3, 4); lb = Layers('f_', F64)
    m = keras.Model(i, B.dense_block(i, units=5, flatten=True, activation='relu', lb=lb))
    w, b = (np.asarray(v) for v in m.get_layer('f_dense').weights)
    # Basenji reshapes (B, L, C) to one position (B, 1, L*C)
    np.testing.assert_allclose(run(m, X), (np.maximum(X, 0).reshape(2, 1, 12) @ w + b), rtol=1e-10)
    assert lb.flat and m.output.shape[1:] == (1, 5)


def test_wheeze_excite_against_numpy():
    X = rand(2, 9, 8, seed=5)
    layer = WheezeExcite(5, dtype=F64)
    i = sym(9, 8); m = keras.Model(i, layer(i))
    w1, b1 = (np.asarray(v) for v in layer.excite1.weights); w2, b2 = (np.asarray(v) for v in layer.excite2.weights)
    xp = np.pad(X, ((0, 0), (2, 2), (0, 0)), mode='symmetric')
    sq = np.stack([xp[:, j:j + 5].mean(1) for j in range(9)], 1)
    gate = 1/(1 + np.exp(-np.maximum(np.maximum(sq @ w1 + b1, 0) @ w2 + b2, 0)))
    np.testing.assert_allclose(run(m, X), X*gate, rtol=1e-10)


def test_legacy_conv_against_numpy_with_skip_and_concat():
    "Basenji's pre-activation legacy layer: relu -> conv (no bias) -> batch norm (inference) -> add layer_reprs[-k]."
    X = rand(2, 16, 4, seed=6)
    i = sym(16, 4); lb0, lb1, lb2 = (Layers(f'l{k}_', F64) for k in range(3))
    reprs = [i]
    reprs.append(legacy_conv(i, ConvParams(6, 3), reprs, lb=lb0))
    reprs.append(legacy_conv(reprs[-1], ConvParams(2, 3, dilation=2, concat=True), reprs, lb=lb1))
    reprs.append(legacy_conv(reprs[-1], ConvParams(6, 1, skip_layers=2, pool=2), reprs, lb=lb2))
    m = keras.Model(i, reprs[1:])
    rng = np.random.default_rng(7)
    for lb in (lb0, lb1, lb2):   # give batch norm non-trivial statistics and scale
        bn = m.get_layer(f'{lb.prefix}bn')
        bn.set_weights([rng.uniform(0.5, 2, w.shape) if j in (0, 3) else rng.normal(size=w.shape)
                        for j, w in enumerate(bn.get_weights())])
    def layer(x, lb, dil=1):
        w = np.asarray(m.get_layer(f'{lb.prefix}conv').weights[0])
        g, be, mu, var = m.get_layer(f'{lb.prefix}bn').get_weights()
        return (np_conv_same(np.maximum(x, 0), w, dilation=dil) - mu)/np.sqrt(var + 1e-3)*g + be
    r1 = layer(X, lb0)
    r2 = np.concatenate([r1, layer(r1, lb1, 2)], -1)
    r3 = np_maxpool_same(layer(r2, lb2) + r1, 2)
    for got, ref in zip(run(m, X), (r1, r2, r3)):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10)
    assert m.get_layer('l2_bn').gamma_initializer.__class__.__name__ == 'Zeros'   # skip layers start at zero


def test_legacy_conv_errors():
    i = sym(16, 4)
    with pytest.raises(ParamsError, match='reaches back past the input'):
        legacy_conv(i, ConvParams(4, skip_layers=2), [i])
    r = legacy_conv(i, ConvParams(6), [i])
    # Basenji's order concatenates before pooling; the 2017 order pools first and then cannot concatenate
    assert tuple(legacy_conv(r, ConvParams(2, pool=2, concat=True), [i, r]).shape[1:]) == (8, 8)
    with pytest.raises(ParamsError, match='cannot concatenate a pooled layer'):
        legacy_conv(r, ConvParams(2, pool=2, concat=True), [i, r], preact=False)


def test_build_block_passes_model_globals_the_block_accepts():
    lb = Layers('g_', F64)
    build_block(sym(64, 4), {'name': 'conv_dna', 'filters': 8, 'kernel_size': 5, 'pool_size': 2},
                globals_={'activation': 'gelu', 'norm_type': 'batch', 'bn_momentum': 0.8, 'l2_scale': 1e-4,
                          'kernel_initializer': 'lecun_normal'}, lb=lb)
    assert lb._n == {'conv': 0, 'bn': 0, 'gelu': 0, 'maxpool': 0}
    # a block's own key wins over the global (conv_dna with norm_type null, as baskerville's files)
    lb2 = Layers('h_', F64)
    build_block(sym(64, 4), {'name': 'conv_dna', 'filters': 8, 'norm_type': None, 'activation': 'linear'},
                globals_={'activation': 'gelu', 'norm_type': 'batch'}, lb=lb2)
    assert lb2._n == {'conv': 0}
    # globals a block does not take are not passed (final has no norm_type)
    build_block(sym(8, 4), {'name': 'final', 'units': 2}, globals_={'norm_type': 'batch', 'bn_momentum': 0.9})


def test_build_block_layer_settings_reach_keras():
    i = keras.Input((32, 4))
    y = build_block(i, {'name': 'conv_block', 'filters': 4, 'kernel_size': 3},
                    globals_={'norm_type': 'batch', 'bn_momentum': 0.8, 'l2_scale': 1e-4}, lb=Layers('k_'))
    m = keras.Model(i, y)
    assert m.get_layer('k_bn').momentum == 0.8
    assert m.get_layer('k_conv').kernel_regularizer.l2 == pytest.approx(1e-4)
    assert m.get_layer('k_conv').use_bias is False


def test_batch_norm_boolean_of_older_files():
    lb = Layers('o_')
    build_block(keras.Input((32, 4)), {'name': 'dilated_residual', 'filters': 4, 'repeat': 1},
                globals_={'batch_norm': True, 'bn_momentum': 0.9}, lb=lb)
    assert lb._n['bn'] == 1 and 'scale' not in lb._n     # two batch norms, no Scale (norm_type 'batch')


def test_build_block_errors_name_the_block_place_and_file():
    i = keras.Input((32, 4))
    with pytest.raises(ParamsError,
                       match=r"p\.json: key 'model\.trunk\[3\]': block 'conv_tower': unknown argument\(s\) "
                             r"\['filter_init'\]"):
        build_block(i, {'name': 'conv_tower', 'filter_init': 8}, where='model.trunk[3]', path='p.json')
    with pytest.raises(ParamsError, match="did you mean 'dilated_residual'"):
        build_block(i, {'name': 'dilated_resid'})
    with pytest.raises(ParamsError, match="block 'transformer_dense' is not in genomenn's block registry"):
        build_block(i, {'name': 'transformer_dense'})
    with pytest.raises(ParamsError, match=r"cropping 16 leaves nothing of 32 positions"):
        build_block(i, {'name': 'Cropping1D', 'cropping': 16})
    with pytest.raises(ParamsError, match="block 'conv_block': key 'activation': unknown activation 'swish2'"):
        build_block(i, {'name': 'conv_block', 'activation': 'swish2'})
    with pytest.raises(ParamsError,
                       match=r"key 'model\.trunk\[2\]': block 'conv_block': softmax pooling: the length 32 is not a "
                             r"multiple of pool_size 3"):
        build_block(i, {'name': 'conv_block', 'pool_size': 3, 'pool_type': 'softmax'}, where='model.trunk[2]')
    with pytest.raises(ParamsError,
                       match=r"key 'model\.head\[0\]': block 'squeeze_excite': unknown argument\(s\) \['ratio'\]"):
        build_block(i, {'name': 'squeeze_excite', 'ratio': 4}, where='model.head[0]')
    with pytest.raises(ParamsError,
                       match=r"key 'model\.trunk\[1\]': block 'Conv1D': unknown argument\(s\) \['kernel'\]"):
        build_block(i, {'name': 'Conv1D', 'filters': 4, 'kernel': 3}, where='model.trunk[1]')
    with pytest.raises(ParamsError, match='a block must be an object'):
        build_block(i, ['conv_block'])


def test_cropping_records_the_left_crop():
    lb = Layers('c_')
    y = build_block(keras.Input((32, 4)), {'name': 'Cropping1D', 'cropping': [3, 5]}, lb=lb)
    assert y.shape[1] == 24 and lb.crop_left == 3 and lb.pool == 1


def test_check_buildable_lists_every_unbuildable_block():
    model = {'trunk': [{'name': 'conv_dna'}, {'name': 'block_a'}, {'name': 'block_b'}, {'name': 'block_b'}],
             'head_human': {'name': 'final', 'units': 3}}
    with pytest.raises(ParamsError) as e:
        check_buildable(model, 'b.json')
    msg = str(e.value)
    assert msg.startswith("b.json: key 'model': cannot build block(s) 'block_a' (model.trunk[1]); "
                          "'block_b' (model.trunk[2], model.trunk[3])")
    with pytest.raises(ParamsError, match=r"key 'model\.adapter': adapter 'houlsby'"):
        check_buildable({'trunk': [{'name': 'conv_dna'}], 'adapter': 'houlsby'}, 'c.json')
    check_buildable({'trunk': [{'name': 'conv_dna'}], 'head': [{'name': 'final', 'units': 1}]})


def test_block_args_of_towers_include_the_repeated_block():
    a = block_args('conv_tower')
    assert {'filters_init', 'filters_end', 'filters_mult', 'divisible_by', 'repeat', 'kernel_size', 'pool_size',
            'norm_type', 'activation', 'dropout'} <= a
    assert 'filters' not in a and 'dilation_rate' not in block_args('dilated_residual')


def test_float64_layers():
    lb = Layers('x_', F64)
    i = sym(16, 4)
    m = keras.Model(i, B.conv_tower(i, filters_init=4, filters_mult=2, kernel_size=3, repeat=2, norm_type='batch',
                                    lb=lb))
    assert all(l.dtype_policy.name == F64 for l in m.layers[1:])
    assert run(m, rand(1, 16, 4)).dtype == np.float64
