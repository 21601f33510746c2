"""The explorers of genomenn.widgets: each control set from code redraws, and the redrawn figure shows the selection
(logo heights against numpy's gradient x input, axis ranges, titles, point counts against the sample size, the
printed correlation against scipy's on the plotted pairs)."""
import base64
import re
import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np

matplotlib.use('Agg')
import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest
from helpers import random_1hot
from scipy import stats

from genomenn.widgets import AttributionExplorer, ScatterExplorer, attribution_explorer, scatter_explorer

S, T, L, E = 4, 3, 60, 4
NAMES = ['DNase', 'CAGE', 'H3K27ac']

@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    seqs = random_1hot(S, L, rng=rng)
    members = rng.standard_normal((S, T, L, 4, E)).astype(np.float32)
    return seqs, members.mean(-1), members

def logo_values(ax, a, b)->np.ndarray:
    "The (b - a, 4) letter heights drawn in a logo, read back from its glyph patches (gid 'logo:<base>:<pos>')."
    vals = np.zeros((b - a, 4))
    for p in ax.patches:
        m = re.fullmatch(r'logo:([ACGT]):(-?\d+)', p.get_gid() or '')
        if not m: continue
        pos = int(m[2]); assert a <= pos < b, f'glyph at {pos} outside window {(a, b)}'
        ext = p.get_path().get_extents()
        # letters are stacked: positive ones upwards from 0, negative ones downwards from 0
        vals[pos - a, 'ACGT'.index(m[1])] = (ext.y1 - ext.y0) * (1 if ext.y0 > -1e-9 else -1)
    return vals

def highlights(ax)->list:
    return sorted(tuple(int(v) for v in p.get_gid().split(':')[1:])
                  for p in ax.patches if (p.get_gid() or '').startswith('highlight:'))

def shown_png(ex)->bytes:
    (out,) = ex.out.outputs
    assert out['output_type'] == 'display_data'
    return base64.b64decode(out['data']['image/png'])

## attribution explorer

def test_controls_redraw_the_selection(data):
    seqs, grads, _ = data
    ex = attribution_explorer(grads, seqs, target_names=NAMES, window=(5, 25))
    assert isinstance(ex, AttributionExplorer) and isinstance(ex.widget, widgets.VBox)
    assert sorted(ex.controls) == ['seq', 'target', 'window']                 # no member data: no ensemble toggle
    assert isinstance(ex.controls['window'], widgets.IntRangeSlider) and isinstance(ex.controls['target'],
                                                                                    widgets.Dropdown)
    assert ex.redraws == 1 and shown_png(ex) == ex.png and ex.png.startswith(b'\x89PNG')
    ax = ex.figure.axes[0]
    np.testing.assert_allclose(logo_values(ax, 5, 25), (grads[0, 0] * seqs[0])[5:25], atol=1e-6)
    assert ax.get_title() == 'seq 0 | DNase | 5-25'

    steps = [('target', 2, 'seq 0 | H3K27ac | 5-25'), ('seq', 3, 'seq 3 | H3K27ac | 5-25'),
             ('window', (30, 58), 'seq 3 | H3K27ac | 30-58')]
    for i, (name, value, title) in enumerate(steps, start=2):
        png = ex.png
        ex.controls[name].value = value
        assert ex.redraws == i and ex.png != png and shown_png(ex) == ex.png
        ax = ex.figure.axes[0]
        assert ax.get_title() == title
    a, b = 30, 58
    assert ax.get_xlim() == (a - 0.5, b - 0.5)                                 # the logo's x range is the window
    np.testing.assert_allclose(logo_values(ax, a, b), (grads[3, 2] * seqs[3])[a:b], atol=1e-6)
    assert ex.controls['target'].label == 'H3K27ac' and ex.error is None and ex.status.value == ''

def test_window_of_equal_ends_draws_one_position(data):
    seqs, grads, _ = data
    ex = attribution_explorer(grads, seqs, window=(0, 10))
    ex.controls['window'].value = (20, 20)
    assert ex.window == (20, 21) and ex.figure.axes[0].get_xlim() == (19.5, 20.5)
    ex.controls['window'].value = (L, L)
    assert ex.window == (L - 1, L)

def test_default_window_is_centred_on_the_peak(data):
    seqs, grads, _ = data
    g = 0.01 * grads.copy(); g[0, 0, 47, :] = 5.0
    ex = attribution_explorer(g, seqs, width=20)
    assert ex.controls['window'].value == (37, 57)
    assert attribution_explorer(g, seqs, width=1000).controls['window'].value == (0, L)

def test_ensemble_toggle(data):
    seqs, grads, members = data
    ex = attribution_explorer(grads, seqs, members=members, target_names=NAMES, window=(10, 40),
                              member_names=['shift 0 fwd', 'shift 0 rc', 'shift 1 fwd', 'shift 1 rc'])
    tog = ex.controls['ensemble']
    assert isinstance(tog, widgets.ToggleButtons) and tog.value == 'mean'
    assert [o[0] for o in tog.options] == ['ensemble mean', 'shift 0 fwd only', 'all members']
    ex.controls['target'].value = 1
    np.testing.assert_allclose(logo_values(ex.figure.axes[0], 10, 40), (grads[0, 1] * seqs[0])[10:40], atol=1e-6)
    assert ex.figure.axes[0].get_title().endswith('| ensemble mean')
    tog.value = 'first'
    np.testing.assert_allclose(logo_values(ex.figure.axes[0], 10, 40), (members[0, 1, ..., 0] * seqs[0])[10:40],
                               atol=1e-6)
    assert ex.figure.axes[0].get_title() == 'seq 0 | CAGE | 10-40 | shift 0 fwd'
    tog.value = 'members'
    axs = ex.figure.axes
    assert len(axs) == E and [ax.get_ylabel() for ax in axs] == ex.member_names
    for e, ax in enumerate(axs):
        np.testing.assert_allclose(logo_values(ax, 10, 40), (members[0, 1, ..., e] * seqs[0])[10:40], atol=1e-6)
        assert ax.get_ylim() == axs[0].get_ylim()                               # a shared y scale
    assert axs[0].get_title() == 'seq 0 | CAGE | 10-40 | 4 of 4 members'
    assert ex.redraws == 4
    capped = attribution_explorer(grads, seqs, members=members, max_members=2)
    capped.controls['ensemble'].value = 'members'
    assert len(capped.figure.axes) == 2 and capped.figure.axes[0].get_title().endswith('| 2 of 4 members')

def test_single_member_has_no_toggle(data):
    seqs, grads, members = data
    assert 'ensemble' not in attribution_explorer(grads, seqs, members=members[..., :1]).controls

def test_gradients_like_object(data):
    "The fields of a Gradients: per-layer grads/reprs/grads_all, layers, targets, members [(shift, rc, sample)], preds."
    seqs, grads, members = data
    inner = np.zeros((S, T, L // 4, 8), np.float32)
    mem = [(0, False, 0), (0, True, 0), (1, False, 0), (1, True, 0)]
    g = SimpleNamespace(grads=[inner, grads], reprs=[inner[:, 0], seqs], grads_all=[inner[..., None], members],
                        layers=['conv1', 0], targets=np.array([4, 7, 9]), members=mem, preds=np.zeros((S, 5, 12)))
    ex = attribution_explorer(g, window=(0, 30))
    assert ex.target_names == ['target 4', 'target 7', 'target 9']
    assert ex.member_names == ['shift 0 fwd', 'shift 0 rc', 'shift 1 fwd', 'shift 1 rc']
    ex.controls['seq'].value = 2
    np.testing.assert_allclose(logo_values(ex.figure.axes[0], 0, 30), (grads[2, 0] * seqs[2])[:30], atol=1e-6)
    ex.controls['ensemble'].value = 'first'
    np.testing.assert_allclose(logo_values(ex.figure.axes[0], 0, 30), (members[2, 0, ..., 0] * seqs[2])[:30], atol=1e-6)
    # names for all 12 model targets are narrowed to the 3 differentiated; MC samples are named
    names12 = [f'track{i}' for i in range(12)]
    g.members = [(0, False, 0), (0, False, 1), (0, True, 0), (0, True, 1)]
    ex = attribution_explorer(g, target_names=names12)
    assert ex.target_names == ['track4', 'track7', 'track9']
    assert ex.member_names == ['shift 0 fwd mc 0', 'shift 0 fwd mc 1', 'shift 0 rc mc 0', 'shift 0 rc mc 1']
    g.grads_all = None
    assert 'ensemble' not in attribution_explorer(g).controls
    no_input = SimpleNamespace(grads=[inner], reprs=[inner[:, 0]], layers=['conv1'])
    with pytest.raises(ValueError,
                       match=r"attrs: expected a Gradients with the input layer 0 among its layers, got "
                             r"layers \('conv1',\)"):
        attribution_explorer(no_input)

def test_real_gradients_read_lazily(tmp_path):
    "gradients() of a small conv model over an rc/shift ensemble, written to HDF5 and explored from the lazy file."
    import os
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import keras

    from genomenn.gradients import gradients
    keras.utils.set_random_seed(0)
    x = keras.Input((48, 4))
    y = keras.layers.Conv1D(2, 5, padding='same', activation='softplus')(keras.layers.Conv1D(6, 7, padding='same',
                                                                                             activation='relu')(x))
    model = keras.Model(x, keras.layers.AveragePooling1D(4)(y))
    seqs = random_1hot(3, 48)
    path = tmp_path / 'g.h5'
    g = gradients(model, seqs, rc=True, shifts=(0, 2), return_all=True, out=path, verbose=False)
    try:
        assert type(g.grads[0]).__module__.startswith('h5py')
        ex = attribution_explorer(g, target_names=['up', 'down'], window=(4, 44))
        assert type(ex.attrs).__module__.startswith('h5py') and ex.member_names == ['shift 0 fwd', 'shift 0 rc',
                                                                                    'shift 2 fwd', 'shift 2 rc']
        G, X, GA = g.grads[0][()], g.reprs[0][()], g.grads_all[0][()]
        ex.controls['target'].value = 1; ex.controls['seq'].value = 2
        np.testing.assert_allclose(logo_values(ex.figure.axes[0], 4, 44), (G[2, 1] * X[2])[4:44], atol=1e-5)
        ex.controls['ensemble'].value = 'members'
        for e, ax in enumerate(ex.figure.axes):
            np.testing.assert_allclose(logo_values(ax, 4, 44), (GA[2, 1, ..., e] * X[2])[4:44], atol=1e-5)
        assert ex.figure.axes[0].get_title() == 'seq 2 | down | 4-44 | 4 of 4 members'
        np.testing.assert_array_equal(X, seqs)
    finally: g.close()

def test_motifs_highlighted_within_the_window(data):
    seqs, grads, _ = data
    motifs = [[(8, 15, 'GATA')], [{'start': 40, 'end': 47}], [], [(2, 6), (50, 58)]]
    ex = attribution_explorer(grads, seqs, motifs=motifs, window=(10, 45))
    assert highlights(ex.figure.axes[0]) == [(10, 15)]                          # clipped to the window
    ex.controls['seq'].value = 1
    assert highlights(ex.figure.axes[0]) == [(40, 45)]
    ex.controls['seq'].value = 2
    assert highlights(ex.figure.axes[0]) == []
    ex.controls['seq'].value = 3
    ex.controls['window'].value = (0, L)
    assert highlights(ex.figure.axes[0]) == [(2, 6), (50, 58)]
    import pandas as pd  # a table of sites, as SyntheticData.sites
    table = pd.DataFrame({'seq': [3, 1, 3], 'motif': ['GATA', 'AP1', 'CTCF'], 'start': [4, 20, 40],
                          'end': [10, 27, 54]})
    ex = attribution_explorer(grads, seqs, motifs=table, window=(0, L))
    ex.controls['seq'].value = 3
    assert highlights(ex.figure.axes[0]) == [(4, 10), (40, 54)]
    with pytest.raises(ValueError,
                       match=r"motifs: expected a table with columns seq, start, end, got columns \['seq', 'motif'\]"):
        attribution_explorer(grads, seqs, motifs=table[['seq', 'motif']])
    with pytest.raises(ValueError, match=r'motifs: expected seq indices in \[0, 4\), got 1..7'):
        attribution_explorer(grads, seqs, motifs=table.assign(seq=[7, 1, 3]))

def test_ism_and_raw_attributions(data):
    seqs, grads, _ = data
    raw = attribution_explorer(grads, window=(0, 20))                           # no seqs: the attributions as given
    np.testing.assert_allclose(logo_values(raw.figure.axes[0], 0, 20), grads[0, 0, :20], atol=1e-6)
    ism = attribution_explorer(grads, seqs, ism=True, window=(0, 20))
    ref = -(grads[0, 0] * (1 - seqs[0])).sum(-1, keepdims=True) / 3 * seqs[0]   # minus the mean of the 3 substitutions
    np.testing.assert_allclose(logo_values(ism.figure.axes[0], 0, 20), ref[:20], atol=1e-5)
    assert ism.figure.axes[0].get_ylabel() == 'ISM importance'
    with pytest.raises(ValueError, match=r'seqs: ism=True needs the one-hot sequences \(S, L, 4\), got None'):
        attribution_explorer(grads, ism=True)

@pytest.mark.parametrize('kw, msg', [
    (dict(attrs='g3'), r'attrs: expected shape \(S, T, L, 4\), got \(4, 60, 4\)'),
    (dict(seqs='s_short'), r'seqs: expected shape \(4, 60, 4\), got \(4, 30, 4\)'),
    (dict(members='m_bad'), r'members: expected shape \(4, 3, 60, 4, E\), got \(4, 2, 60, 4, 4\)'),
    (dict(target_names=['a', 'b']), r'target_names: expected 3 names, got 2'),
    (dict(seq_names='abcd'), r"seq_names: expected 4 names, got 'abcd'"),
    (dict(window=(40, 30)), r'window: expected \(a, b\) with 0 <= a < b <= 60, got \(40, 30\)'),
    (dict(motifs=[[(55, 70)]] * S),
     r'motifs\[0\]: expected \(start, end\) with 0 <= start < end <= 60, got \(55, 70\)'),
    (dict(motifs=[[]]), r'motifs: expected one list of \(start, end\) intervals per sequence \(4\), got 1'),
    (dict(width=0), r'width: expected an integer >= 1, got 0'),
    (dict(max_members=1.5), r'max_members: expected an integer >= 1, got 1.5'),
])
def test_attribution_errors(data, kw, msg):
    seqs, grads, members = data
    subst = {'g3': grads[:, 0], 's_short': seqs[:, :30], 'm_bad': members[:, :2]}
    args = dict(attrs=grads, seqs=seqs) | {k: subst.get(v, v) if isinstance(v, str) else v for k, v in kw.items()}
    with pytest.raises(ValueError, match=msg):
        attribution_explorer(args.pop('attrs'), args.pop('seqs'), **args)

## scatter explorer

@pytest.fixture
def cov():
    rng = np.random.default_rng(3)
    rate = rng.gamma(0.7, 5.0, (20, 32, T))
    return (rate * rng.lognormal(0, 0.4, rate.shape)).astype(np.float32), rng.poisson(rate).astype(np.float32)

def joint_points(ex)->np.ndarray:
    return ex.figure.axes[0].collections[0].get_offsets().data

def cor_shown(ex)->float:
    (t,) = [t for t in ex.figure.axes[0].texts if t.get_gid() == 'genomenn-cor']
    return float(t.get_text().split(':')[1])

def test_scatter_controls(cov):
    preds, targets = cov
    N = 20 * 32
    ex = scatter_explorer(preds, targets, target_names=NAMES, sample=200)
    assert isinstance(ex, ScatterExplorer) and sorted(ex.controls) == ['log', 'sample', 'target']
    assert ex.controls['sample'].max == N and ex.controls['sample'].value == 200
    xy = joint_points(ex)
    assert len(xy) == 200 and ex.figure.texts[0].get_text() == 'DNase | 200 of 640 pairs'
    pairs = set(zip(targets[..., 0].ravel().astype(float), preds[..., 0].ravel().astype(float)))
    assert set(map(tuple, xy)) <= pairs                                         # measured on x, predicted on y
    assert cor_shown(ex) == pytest.approx(stats.pearsonr(xy[:, 0], xy[:, 1]).statistic, abs=5e-4)

    ex.controls['sample'].value = 75
    assert len(joint_points(ex)) == 75 and ex.redraws == 2
    ex.controls['target'].value = 1
    xy = joint_points(ex)
    assert ex.figure.texts[0].get_text() == 'CAGE | 75 of 640 pairs' and len(xy) == 75
    assert set(map(tuple, xy)) <= set(zip(targets[..., 1].ravel().astype(float), preds[..., 1].ravel().astype(float)))
    ex.controls['log'].value = True
    xy = joint_points(ex)
    lx, ly = np.log2(targets[..., 1].ravel() + 1.0, dtype=np.float64), np.log2(preds[..., 1].ravel() + 1.0,
                                                                               dtype=np.float64)
    assert len(xy) == 75 and set(map(tuple, xy)) <= set(zip(lx, ly))
    ax = ex.figure.axes[0]
    assert ax.get_xlabel() == 'measured, log2(x + 1)' and ax.get_ylabel() == 'predicted, log2(x + 1)'
    assert cor_shown(ex) == pytest.approx(stats.pearsonr(xy[:, 0], xy[:, 1]).statistic,  # on the log pairs drawn
                                          abs=5e-4)
    ex.controls['sample'].value = N
    assert len(joint_points(ex)) == N and ex.redraws == 5
    # seaborn's figures are closed after drawing
    assert plt.get_fignums() == []

def test_scatter_regplot_and_2d_input(cov):
    preds, targets = cov
    ex = scatter_explorer(preds.reshape(-1, T), targets.reshape(-1, T), plot='regplot', sample=100, log=True, ci=None,
                          square=True)
    ax = ex.figure.axes[0]
    assert len(ax.collections[0].get_offsets()) == 100 and ax.get_xscale() == 'linear'
    assert [l.get_gid() for l in ax.lines].count('genomenn-diagonal') == 1     # plot_kw reach regplot
    ex.controls['target'].value = 2
    assert ex.figure.axes[0].get_title() == 'target 2 | 100 of 640 pairs'

def test_scatter_notes_and_errors_in_status(cov):
    preds, targets = cov
    targets = targets.copy(); targets[0, :5, 0] = np.nan; targets[..., 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter('error')                                          # notes go to status, not to warnings
        ex = scatter_explorer(preds, targets, sample=1000)
    assert 'dropped 5 of 640 pairs' in ex.status.value and len(joint_points(ex)) == 635
    assert ex.figure.texts[0].get_text() == 'target 0 | 635 of 635 pairs'
    ex.controls['target'].value = 1
    assert ex.status.value == '' and ex.error is None
    n = ex.redraws
    # all NaN: shown, not raised into the void
    ex.controls['target'].value = 2
    assert ex.redraws == n and isinstance(ex.error, ValueError) and 'error: ValueError' in ex.status.value
    assert 'no pairs left to plot' in ex.status.value
    ex.controls['target'].value = 0
    assert ex.error is None and ex.redraws == n + 1
    with pytest.raises(ValueError, match='no pairs left to plot'):              # called directly, a redraw raises
        ex.controls['target'].value = 2; ex.redraw()

@pytest.mark.parametrize('kw, msg', [
    (dict(targets='short'), r'targets: expected shape \(20, 32, 3\) \(like preds\), got \(20, 16, 3\)'),
    (dict(preds='flat'), r'preds: expected shape \(S, P, T\) or \(N, T\), got \(1920,\)'),
    (dict(plot='hist'), r"plot: expected one of 'jointplot', 'regplot', got 'hist'"),
    (dict(sample=0), r'sample: expected an integer >= 1, got 0'),
    (dict(pseudocount=0), r'pseudocount: expected a number > 0, got 0'),
    (dict(target_names=['a']), r'target_names: expected 3 names, got 1'),
])
def test_scatter_errors(cov, kw, msg):
    preds, targets = cov
    subst = {'short': targets[:, :16], 'flat': preds.ravel()}
    args = dict(preds=preds, targets=targets) | {k: subst.get(v, v) if isinstance(v, str) and k != 'plot' else v for k,
                                                 v in kw.items()}
    with pytest.raises(ValueError, match=msg):
        scatter_explorer(args.pop('preds'), args.pop('targets'), **args)

def test_shown_as_its_widget(data):
    seqs, grads, _ = data
    ex = attribution_explorer(grads, seqs)
    assert ex._repr_mimebundle_() == ex.widget._repr_mimebundle_()
    assert 'application/vnd.jupyter.widget-view+json' in ex._repr_mimebundle_()
    assert ex.widget.children[1] is ex.out and ex.widget.children[2] is ex.status
    assert list(ex.widget.children[0].children) == list(ex.controls.values())
