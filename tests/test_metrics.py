"""genomenn.metrics against independent references: float64 two-pass numpy, scikit-learn, scipy, Keras evaluate."""
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose
from scipy import stats
from sklearn.metrics import r2_score

from genomenn.keras_metrics import PearsonRMetric, R2Metric
from genomenn.metrics import (
    R2,
    CoMoments,
    Mean,
    MetricWarning,
    SpearmanR,
    Variance,
    pearsonr,
    per_target_mean,
    per_target_variance,
    r2,
    spearmanr,
    variance,
)


# ---------------------------------------------------------------- references (float64, two passes, per target)
def ref_stats(p, t, w=None):
    "Per-target weighted mean/variance/R2/Pearson by a plain two-pass float64 computation, column by column."
    shape = np.shape(p)
    w = np.ones(shape) if w is None else np.broadcast_to(np.asarray(w, np.float64), shape)
    p, t, w = (np.asarray(a, np.float64).reshape(-1, shape[-1]) for a in (p, t, w))
    out = {k: [] for k in ('mean_t', 'var_t', 'r2', 'pearson')}
    with np.errstate(divide='ignore', invalid='ignore'): _columns(p, t, w, out)
    return {k: np.array(v) for k, v in out.items()}

def _columns(p, t, w, out):
    for j in range(p.shape[1]):
        x, y, v = np.ascontiguousarray(p[:, j]), np.ascontiguousarray(t[:, j]), np.ascontiguousarray(w[:, j])
        W = v.sum(); mx = (v*x).sum()/W; my = (v*y).sum()/W
        dx, dy = x - mx, y - my
        sxx, syy, sxy = (v*dx*dx).sum(), (v*dy*dy).sum(), (v*dx*dy).sum()
        out['mean_t'].append(my); out['var_t'].append(syy/W)
        out['r2'].append(1 - (v*(y - x)**2).sum()/syy)
        out['pearson'].append(sxy/np.sqrt(sxx*syy))

def pooled(a): return np.asarray(a).reshape(-1, 1)

@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', MetricWarning)
        yield

def tracks(seed, shape=(24, 50, 5), mean=10., sd=3.):
    rng = np.random.default_rng(seed)
    t = rng.normal(mean, sd, shape); p = 0.8*t + rng.normal(0, sd/2, shape) + 0.5
    return rng, p, t

# ---------------------------------------------------------------- float64 agreement to 1e-10
def test_float64_matches_sklearn_scipy_and_two_pass():
    rng, p, t = tracks(0)
    T = t.shape[-1]; P2, T2 = p.reshape(-1, T), t.reshape(-1, T)
    assert_allclose(r2(p, t, per_target=True), r2_score(T2, P2, multioutput='raw_values'), rtol=1e-10)
    assert_allclose(pearsonr(p, t, per_target=True), [stats.pearsonr(P2[:, j], T2[:, j])[0] for j in range(T)],
                    rtol=1e-10)
    assert_allclose(r2(p, t), r2_score(t.ravel(), p.ravel()), rtol=1e-10)
    assert_allclose(pearsonr(p, t), stats.pearsonr(p.ravel(), t.ravel())[0], rtol=1e-10)
    ref = ref_stats(p, t)
    assert_allclose(per_target_mean(t), ref['mean_t'], rtol=1e-12)
    assert_allclose(per_target_variance(t), ref['var_t'], rtol=1e-10)
    assert_allclose(variance(t), np.var(t.ravel()), rtol=1e-10)
    assert_allclose(variance(t, per_target=True), ref['var_t'], rtol=1e-10)
    assert_allclose(spearmanr(p, t, per_target=True), [stats.spearmanr(P2[:, j], T2[:, j])[0] for j in range(T)],
                    rtol=1e-10)
    assert_allclose(spearmanr(p, t), stats.spearmanr(p.ravel(), t.ravel())[0], rtol=1e-10)

def test_streaming_equals_one_shot_on_batches():
    rng, p, t = tracks(1)
    m, v, s = CoMoments(per_target=True), Variance(per_target=True), SpearmanR(per_target=True)
    for i in range(0, len(p), 5): m.update(p[i:i+5], t[i:i+5]); v.update(t[i:i+5]); s.update(p[i:i+5], t[i:i+5])
    ref = ref_stats(p, t)
    assert_allclose(m.r2(), ref['r2'], rtol=1e-10); assert_allclose(R2(True).merge(m).result(), ref['r2'], rtol=1e-10)
    assert_allclose(m.pearsonr(), ref['pearson'], rtol=1e-10)
    assert_allclose(v.result(), ref['var_t'], rtol=1e-10)
    assert_allclose(s.result(), spearmanr(p, t, per_target=True), rtol=1e-12)
    assert m.reset().state is None and np.isnan(m.r2())

@pytest.mark.parametrize('chunk, wide', [(1 << 17, 256), (500, 64), (64, 7), (10, 1)])
def test_internal_chunking_and_folding_do_not_change_results(monkeypatch, chunk, wide):
    import genomenn.metrics as gm
    monkeypatch.setattr(gm, '_CHUNK', chunk); monkeypatch.setattr(gm, '_WIDE', wide)
    rng, p, t = tracks(11, shape=(37, 29, 3))          # 1073 rows: chunks, folds and leftover rows
    w = rng.uniform(0, 2, t.shape); w[rng.random(t.shape) < 0.2] = 0
    for wt in (None, w):
        ref = ref_stats(p, t, wt)
        assert_allclose(r2(p, t, wt, per_target=True), ref['r2'], rtol=1e-12)
        assert_allclose(pearsonr(p, t, wt, per_target=True), ref['pearson'], rtol=1e-12)
        assert_allclose(per_target_variance(t, wt), ref['var_t'], rtol=1e-12)
        assert_allclose(per_target_mean(t, wt), ref['mean_t'], rtol=1e-13)
    assert_allclose(r2(p, t), r2_score(t.ravel(), p.ravel()), rtol=1e-12)

# ---------------------------------------------------------------- large mean, small spread, float32
def test_float32_mean_1e6_sd_1_is_exact_and_naive_float32_fails():
    rng = np.random.default_rng(2)
    t = (1e6 + rng.normal(size=(200, 128, 4))).astype(np.float32)
    p = (t + rng.normal(0, 0.5, t.shape)).astype(np.float32)
    ref = ref_stats(p, t)   # float64 two-pass on the same float32 values
    m = CoMoments(per_target=True); v = Variance(per_target=True)
    for i in range(0, 200, 16): m.update(p[i:i+16], t[i:i+16]); v.update(t[i:i+16])
    assert_allclose(v.result(), ref['var_t'], rtol=1e-6)
    assert_allclose(m.r2(), ref['r2'], rtol=1e-6)
    assert_allclose(m.pearsonr(), ref['pearson'], rtol=1e-6)
    assert_allclose(variance(t), np.var(t.astype(np.float64)), rtol=1e-6)
    assert_allclose(r2(p, t), r2_score(t.ravel().astype(np.float64), p.ravel().astype(np.float64)), rtol=1e-6)
    # closer still to correctly rounded sums (math.fsum): far inside the 1e-6 asked for
    P2, T2 = p.reshape(-1, 4).astype(np.float64), t.reshape(-1, 4).astype(np.float64)
    for j in range(4):
        x, y = P2[:, j], T2[:, j]; mu = math.fsum(y)/len(y)
        ss_tot = math.fsum((y - mu)**2); var = ss_tot/len(y)
        assert_allclose(v.result()[j], var, rtol=1e-13)
        assert_allclose(m.r2()[j], 1 - math.fsum((y - x)**2)/ss_tot, rtol=1e-13)
    # the formula genomenn replaces: E[x^2] - E[x]^2 accumulated in float32 (per target, in batches)
    T32 = t.reshape(-1, 4); s1 = np.zeros(4, np.float32); s2 = np.zeros(4, np.float32); n = np.float32(0)
    for i in range(0, len(T32), 2048):
        b = T32[i:i+2048]; s1 += b.sum(0, dtype=np.float32); s2 += (b*b).sum(0, dtype=np.float32); n += len(b)
    naive_var = s2/n - (s1/n)**2
    assert np.all(np.abs(naive_var/ref['var_t'] - 1) > 0.5), naive_var    # wrong by far more than 50%
    naive_r2 = 1 - ((T32 - p.reshape(-1, 4))**2).mean(0, dtype=np.float32)/naive_var
    assert np.all(np.abs(naive_r2 - ref['r2']) > 0.1) or np.any(~np.isfinite(naive_r2)), naive_r2

# ---------------------------------------------------------------- weights
def test_weighted_r2_matches_sklearn():
    rng, p, t = tracks(3)
    w = rng.uniform(0, 2, (24, 50, 1)); sw = np.broadcast_to(w, t.shape).reshape(-1, 5)[:, 0]
    T = t.shape[-1]; P2, T2 = p.reshape(-1, T), t.reshape(-1, T)
    assert_allclose(r2(p, t, w, per_target=True), r2_score(T2, P2, sample_weight=sw, multioutput='raw_values'),
                    rtol=1e-10)
    assert_allclose(r2(p, t, w), r2_score(t.ravel(), p.ravel(), sample_weight=np.broadcast_to(w, t.shape).ravel()),
                    rtol=1e-10)
    we = rng.uniform(0, 2, t.shape)  # a weight per element: against the two-pass reference and numpy's weighted cov
    ref = ref_stats(p, t, we)
    assert_allclose(r2(p, t, we, per_target=True), ref['r2'], rtol=1e-10)
    assert_allclose(pearsonr(p, t, we, per_target=True), ref['pearson'], rtol=1e-10)
    W2 = we.reshape(-1, T)
    cov = [np.cov(P2[:, j], T2[:, j], aweights=W2[:, j]) for j in range(T)]
    assert_allclose(pearsonr(p, t, we, per_target=True), [c[0, 1]/np.sqrt(c[0, 0]*c[1, 1]) for c in cov], rtol=1e-10)
    assert_allclose(per_target_mean(t, we), [np.average(T2[:, j], weights=W2[:, j]) for j in range(T)], rtol=1e-12)
    assert_allclose(per_target_variance(t, we), ref['var_t'], rtol=1e-10)
    assert_allclose(variance(t, 2.0), variance(t), rtol=1e-12)   # scalar weights broadcast

def test_zero_weights_remove_elements_exactly():
    rng, p, t = tracks(4, shape=(30, 20, 3))
    w = rng.uniform(0.5, 2, t.shape); w[rng.random(t.shape) < 0.3] = 0
    p, t = p.copy(), t.copy()
    p[w == 0] = rng.choice([1e30, -7e20, 0.], size=(w == 0).sum()); t[w == 0] = 3e25   # garbage must not leak
    got = {f: fn(p, t, w, per_target=True) for f, fn in (('r2', r2), ('pearson', pearsonr))}
    got['mean'], got['var'] = per_target_mean(t, w), per_target_variance(t, w)
    for j in range(3):
        k = w[..., j] > 0
        x, y, v = p[..., j][k], t[..., j][k], w[..., j][k]
        assert_allclose(got['r2'][j], r2(x, y, v), rtol=1e-13)
        assert_allclose(got['pearson'][j], pearsonr(x, y, v), rtol=1e-13)
        assert_allclose(got['mean'][j], per_target_mean(y[:, None], v[:, None])[0], rtol=1e-14)
        assert_allclose(got['var'][j], variance(y, v), rtol=1e-13)
    assert_allclose(spearmanr(p, t, (w > 0).astype(float), per_target=True),
                    [stats.spearmanr(p[..., j][w[..., j] > 0], t[..., j][w[..., j] > 0])[0] for j in range(3)],
                    rtol=1e-12)

# ---------------------------------------------------------------- NaN policy and undefined values
def test_nan_raises_unless_ignored_and_is_masked_per_element():
    rng, p, t = tracks(5, shape=(40, 10, 3))
    p[rng.random(p.shape) < 0.1] = np.nan; t[rng.random(t.shape) < 0.1] = np.nan
    with pytest.raises(ValueError, match=r'preds: got \d+ NaN value\(s\) in shape \(40, 10, 3\); pass ignore_nan=True'):
        r2(p, t, per_target=True)
    with pytest.raises(ValueError, match=r'values: got \d+ NaN'):
        per_target_mean(t)
    got_r2, got_r = r2(p, t, per_target=True, ignore_nan=True), pearsonr(p, t, per_target=True, ignore_nan=True)
    got_s = spearmanr(p, t, per_target=True, ignore_nan=True)
    for j in range(3):
        k = ~np.isnan(p[..., j]) & ~np.isnan(t[..., j])
        x, y = p[..., j][k], t[..., j][k]
        assert_allclose(got_r2[j], r2_score(y, x), rtol=1e-10)
        assert_allclose(got_r[j], stats.pearsonr(x, y)[0], rtol=1e-10)
        assert_allclose(got_s[j], stats.spearmanr(x, y)[0], rtol=1e-10)
    assert_allclose(per_target_mean(t, ignore_nan=True), np.nanmean(t.reshape(-1, 3), 0), rtol=1e-12)
    with pytest.raises(ValueError, match='targets: expected finite values, got inf'):
        r2(np.ones(3), np.array([1., np.inf, 2.]), ignore_nan=True)

def test_constant_target_gives_nan_and_warning():
    rng, p, t = tracks(6, shape=(12, 9, 3))
    t[..., 1] = 1e6 + np.pi                         # exactly constant, not representable in float32
    w = rng.uniform(0.1, 3, t.shape)                # weights that make a rounded mean differ from the value
    with pytest.warns(MetricWarning, match=r'constant targets or no weight for 1 of 3 targets \(index \[1\]\)'):
        out = r2(p, t, w, per_target=True)
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    m = R2(per_target=True)
    for i in range(0, 12, 5): m.update(p[i:i+5], t[i:i+5], w[i:i+5])     # constant stays constant after merges
    with pytest.warns(MetricWarning): assert np.isnan(m.result()[1])
    with pytest.warns(MetricWarning, match='constant preds'):
        assert np.isnan(pearsonr(t[..., 1], p[..., 0]))
    with pytest.warns(MetricWarning, match='constant'):
        assert np.isnan(r2(p[..., 0], np.full(p.shape[:2], 2.5)))
    with pytest.warns(MetricWarning, match='no weight'):
        assert np.isnan(per_target_mean(t, np.zeros(3))).all()
    with pytest.warns(MetricWarning, match='constant'):
        assert np.isnan(spearmanr(p, t, per_target=True)[1])
    # a spread of one unit in the last place is not constant
    y = np.array([1., 1. + 2**-52, 1., 1. + 2**-52]); assert np.isfinite(r2(y + 0.1, y))
    assert variance(np.full(5, 3.7)) == 0.0

# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize('call, msg', [
    (lambda: r2(np.zeros((2, 3)), np.zeros((2, 4))),
     r'preds and targets: expected the same shape, got preds \(2, 3\) and targets \(2, 4\)'),
    (lambda: pearsonr(np.zeros((2, 3)), np.zeros((3, 2)), per_target=True),
     r'preds and targets: expected the same shape'),
    (lambda: r2(np.ones((4, 3)), np.ones((4, 3)), np.ones(4)),
     r'weights: expected a shape broadcastable to preds \(4, 3\), got \(4,\)'),
    (lambda: r2(np.ones((4, 3)), np.ones((4, 3)), np.ones((2, 4, 3))),
     r'weights: expected a shape broadcastable to preds \(4, 3\), got \(2, 4, 3\)'),
    (lambda: per_target_mean(np.ones((4, 3)), -np.ones(3)), r'weights: expected non-negative values, got minimum -1.0'),
    (lambda: variance(np.ones((4, 3)), np.array([1., np.nan, 1.])), r'weights: expected finite values'),
    (lambda: r2(np.zeros((0, 3)), np.zeros((0, 3))),
     r'preds and targets: expected at least one element, got shape \(0, 3\)'),
    (lambda: per_target_variance(np.zeros((5, 0))), r'values: expected at least one element, got shape \(5, 0\)'),
    (lambda: variance(np.float64(3.)), r'values: expected an array \(\.\.\., T\), got a scalar'),
    (lambda: variance(np.array(['a', 'b'])), r'values: expected real numbers, got dtype <U1'),
    (lambda: R2(per_target=True).update(np.ones((4, 3)), np.ones((4, 3))).update(np.ones((4, 2)), np.ones((4, 2))),
     r'preds and targets: expected shape \(\.\.\., 3\) as in earlier updates, got \(4, 2\)'),
    (lambda: R2(per_target=True).merge(R2()), r'other: expected a R2 with per_target=True'),
    (lambda: Mean(True).update(np.ones((2, 3))).merge(Mean(True).update(np.ones((2, 4)))),
     r'other: expected 3 targets, got 4'),
    (lambda: Mean().merge(R2()), r'other: expected a Mean'),
    (lambda: spearmanr(np.ones(3), np.ones(3), np.array([0., 0.5, 1.])), r'weights: SpearmanR takes 0/1 weights'),
])
def test_bad_input_raises_value_error_naming_arguments(call, msg):
    with pytest.raises(ValueError, match=msg): call()

# ---------------------------------------------------------------- properties: any split, order, merge tree
values = st.integers(-800, 800).map(lambda k: k/8)     # exact in binary: the only error is the algorithm's

@st.composite
def split_data(draw):
    n, T = draw(st.integers(1, 30)), draw(st.integers(1, 3))
    p = draw(hnp.arrays(np.float64, (n, T), elements=values))
    t = draw(hnp.arrays(np.float64, (n, T), elements=values))
    w = draw(st.none() | hnp.arrays(np.float64, (n, T), elements=st.integers(0, 3).map(float)))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    bounds = list(zip([0] + cuts, cuts + [n]))
    order = draw(st.permutations(range(len(bounds))))
    merges = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=len(bounds),
                           max_size=len(bounds)))
    return p, t, w, [bounds[i] for i in order], merges

def merged(cls, kind, p, t, w, batches, merges, per_target):
    "Fill one object per batch (possibly empty batches skipped), then merge them in a drawn tree."
    objs = []
    for a, b in batches:
        o = cls(per_target)
        if b > a:
            args = (p[a:b],) if kind == 1 else (p[a:b], t[a:b])
            o.update(*args, None if w is None else w[a:b])
        objs.append(o)
    for i, j in merges:
        if len(objs) == 1: break
        x = objs.pop(i % len(objs)); y = objs.pop(j % len(objs))
        objs.append(x.merge(y) if (i + j) % 2 else y.merge(x))
    return objs[0]

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_data(), st.booleans())
def test_any_split_order_and_merge_tree_gives_one_shot(data, per_target):
    p, t, w, batches, merges = data
    if w is not None and not (w.sum(0) > 0).all(): w[0] = 1   # every target keeps some weight
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', MetricWarning)
        one = CoMoments(per_target).update(p, t, w)
        tree = merged(CoMoments, 2, p, t, w, batches, merges, per_target)
        assert_allclose(tree.r2(), one.r2(), rtol=1e-9, atol=1e-9)
        assert_allclose(tree.pearsonr(), one.pearsonr(), rtol=1e-9, atol=1e-9)
        assert_allclose(tree.state.count, one.state.count, rtol=0)
        for cls in (Mean, Variance):
            assert_allclose(merged(cls, 1, p, t, w, batches, merges, per_target).result(),
                            cls(per_target).update(p, w).result(), rtol=1e-9, atol=1e-12)
        s_one = SpearmanR(per_target).update(p, t, None if w is None else (w > 0).astype(float)).result()
        ww = None if w is None else (w > 0).astype(float)
        assert_allclose(merged(SpearmanR, 2, p, t, ww, batches, merges, per_target).result(), s_one, rtol=1e-9,
                        atol=1e-12)
        ref = ref_stats(p if per_target else pooled(p), t if per_target else pooled(t),
                        w if (per_target or w is None) else pooled(w))
        ok = np.isfinite(ref['r2'])
        assert_allclose(np.atleast_1d(one.r2())[ok], ref['r2'][ok], rtol=1e-9, atol=1e-9)
        assert np.isnan(np.atleast_1d(one.r2())[~ok]).all()    # constant targets: NaN, never inf

# ---------------------------------------------------------------- Keras wrappers
import keras
import tensorflow as tf


def tiny_model(T=3, L=16):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((L, 4)), keras.layers.Dense(T)])
    m.layers[0].set_weights([np.eye(4, T, dtype=np.float32)*2, np.full(T, 1e3, np.float32)])
    return m

def keras_data(seed=7, S=70, L=16, T=3, mean=1e3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(S, L, 4)).astype(np.float32)
    Y = (X[..., :T]*2 + mean + rng.normal(size=(S, L, T))).astype(np.float32)
    return rng, X, Y

def test_keras_metrics_after_evaluate_match_functions():
    rng, X, Y = keras_data()
    sw = rng.uniform(0, 2, X.shape[:2]).astype(np.float32)    # a weight per sequence position
    model = tiny_model()
    model.compile(loss='mse', metrics=[R2Metric(3, summarize=False), PearsonRMetric(3, summarize=False),
                                       R2Metric(3, name='r2_mean'), PearsonRMetric(3, name='r_mean')])
    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16)     # 5 batches, the last one short
    res = model.evaluate(ds, verbose=0, return_dict=True)
    P = model.predict(X, verbose=0).astype(np.float64)
    want_r2, want_r = r2(P, Y, per_target=True), pearsonr(P, Y, per_target=True)
    assert_allclose(res['r2'], want_r2, rtol=1e-6); assert_allclose(res['pearsonr'], want_r, rtol=1e-6)
    assert_allclose(res['r2_mean'], want_r2.mean(), rtol=1e-6); assert_allclose(res['r_mean'], want_r.mean(), rtol=1e-6)
    # sample weights (S, L) through weighted_metrics: Keras convention, aligned on the leading axes
    model.compile(loss='mse', weighted_metrics=[R2Metric(3, summarize=False, name='r2_w'),
                                                PearsonRMetric(3, summarize=False, name='r_w')])
    res_w = model.evaluate(tf.data.Dataset.from_tensor_slices((X, Y, sw)).batch(16), verbose=0, return_dict=True)
    assert_allclose(res_w['r2_w'], r2(P, Y, sw[..., None], per_target=True), rtol=1e-6)
    assert_allclose(res_w['r_w'], pearsonr(P, Y, sw[..., None], per_target=True), rtol=1e-6)
    assert np.abs(res_w['r2_w'] - want_r2).max() > 1e-3    # the weights did change the answer

def test_keras_metric_large_mean_state_merges_with_numpy():
    rng, X, Y = keras_data(8, S=40, mean=1e6)
    P = (Y + rng.normal(0, 0.5, Y.shape)).astype(np.float32)
    m = R2Metric(3, summarize=False)
    for i in range(0, 40, 7): m.update_state(Y[i:i+7], P[i:i+7])
    assert_allclose(m.result().numpy(), ref_stats(P, Y)['r2'], rtol=1e-6)
    both = m.comoments().merge(CoMoments(per_target=True).update(P[:5] + 1, Y[:5]))
    want = CoMoments(per_target=True).update(np.concatenate([P, P[:5] + 1]), np.concatenate([Y, Y[:5]]))
    assert_allclose(both.r2(), want.r2(), rtol=1e-9); assert_allclose(both.pearsonr(), want.pearsonr(), rtol=1e-9)
    m.reset_state(); assert np.isnan(m.result().numpy()).all()

def test_keras_constant_target_nan_and_nan_inputs():
    rng, X, Y = keras_data(9, S=20)
    Y[..., 2] = 5.
    m = R2Metric(3, summarize=False); m.update_state(Y[:10], X[:10, :, :3]); m.update_state(Y[10:], X[10:, :, :3])
    v = m.result().numpy(); assert np.isnan(v[2]) and np.isfinite(v[:2]).all()
    s = R2Metric(3); s.update_state(Y, X[..., :3]); assert_allclose(s.result().numpy(), v[:2].mean(), rtol=1e-6)
    Yn = Y.copy(); Yn[0, 0, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match='y_true: expected finite values'):
        PearsonRMetric(3).update_state(Yn, X[..., :3])
    k = PearsonRMetric(3, summarize=False, ignore_nan=True); k.update_state(Yn, X[..., :3])
    assert_allclose(k.result().numpy(), pearsonr(X[..., :3], Yn, per_target=True, ignore_nan=True), rtol=1e-6)
    with pytest.raises(ValueError, match=r'y_pred: expected shape \(\.\.\., 3\), got \(20, 16, 4\)'):
        R2Metric(3).update_state(Y, X)
    with pytest.raises(ValueError, match='num_targets: expected an integer >= 1, got 0'):
        R2Metric(0)

@pytest.mark.filterwarnings('ignore:Skipping variable loading for optimizer')
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_keras_metrics_serialize_and_reload(tmp_path):
    rng, X, Y = keras_data(10, S=8)
    model = tiny_model()
    model.compile(loss='mse', metrics=[R2Metric(3, summarize=False, name='r2_t'), PearsonRMetric(3)])
    model.evaluate(X, Y, verbose=0)
    path = tmp_path/'m.keras'; model.save(path)
    back = keras.saving.load_model(path)
    res = back.evaluate(X, Y, verbose=0, return_dict=True)
    assert_allclose(res['r2_t'], r2(model.predict(X, verbose=0), Y, per_target=True), rtol=1e-6)
    cfg = keras.metrics.serialize(PearsonRMetric(4, summarize=False, ignore_nan=True))
    m = keras.metrics.deserialize(cfg)
    assert isinstance(m, PearsonRMetric) and (m.num_targets, m.summarize, m.ignore_nan) == (4, False, True)

DISTRIBUTED = textwrap.dedent('''
    import os, json, sys
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]*2)
    import keras
    from genomenn.keras_metrics import R2Metric, PearsonRMetric
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 16, 4)).astype(np.float32)
    Y = (X[..., :3]*2 + 1e3 + rng.normal(size=(70, 16, 3))).astype(np.float32)
    Y[35:] += 3.   # the two halves differ, so a replica seeing only its share would be wrong
    with strategy.scope():
        model = keras.Sequential([keras.Input((16, 4)), keras.layers.Dense(3)])
        model.layers[0].set_weights([np.eye(4, 3, dtype=np.float32)*2, np.full(3, 1e3, np.float32)])
        model.compile(loss='mse', metrics=[R2Metric(3, summarize=False), PearsonRMetric(3, summarize=False)])
        direct = R2Metric(3, summarize=False, name='direct')
    res = model.evaluate(tf.data.Dataset.from_tensor_slices((X, Y)).batch(16), verbose=0, return_dict=True)
    P = model.predict(X, verbose=0)
    @tf.function
    def step(y, p): strategy.run(lambda a, b: direct.update_state(a, b), args=(y, p))
    for y, p in strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((Y, P)).batch(10)):
        step(y, p)
    json.dump({'replicas': strategy.num_replicas_in_sync, 'r2': np.asarray(res['r2']).tolist(),
               'pearsonr': np.asarray(res['pearsonr']).tolist(), 'direct': direct.result().numpy().tolist(),
               'P': P.tolist(), 'Y': Y.tolist()}, sys.stdout)
''')

def test_keras_metrics_under_mirrored_strategy_two_cpus(tmp_path):
    script = tmp_path/'dist.py'; script.write_text(DISTRIBUTED)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert got['replicas'] == 2
    P, Y = np.array(got['P']), np.array(got['Y'], np.float32)
    assert_allclose(got['r2'], r2(P, Y, per_target=True), rtol=1e-6)
    assert_allclose(got['pearsonr'], pearsonr(P, Y, per_target=True), rtol=1e-6)
    assert_allclose(got['direct'], r2(P, Y, per_target=True), rtol=1e-6)
