"""genomenn.plots: figure content (plotted points, limits, annotations, glyphs, patches), saved files read back."""
import os

os.environ.setdefault('MPLBACKEND', 'Agg')
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers import F64, file_modes, random_1hot
from PIL import Image
from scipy import stats

from genomenn.plots import (
    CI_MAX_PAIRS,
    Pairs,
    PlotWarning,
    clean_pairs,
    cor_text,
    correlation,
    jointplot,
    regplot,
    save_figure,
    scatter_lims,
)
from genomenn.seqplots import attribution_logo, ism_heatmap, ism_importance, track_plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close('all')


def by_gid(items, gid):
    return [a for a in items if a.get_gid() == gid]

def points(ax):
    "Offsets of the scatter points drawn by genomenn (float64, shape (n, 2))."
    (coll,) = by_gid(ax.collections, 'genomenn-points')
    return np.asarray(coll.get_offsets(), np.float64)

def text(ax, gid):
    (t,) = by_gid(ax.texts, gid)
    return t.get_text()

def counts(n=400, seed=0, scale=1.0):
    "Correlated Poisson counts on a log2 scale, like measured vs predicted coverage."
    rng = np.random.default_rng(seed)
    lam = rng.gamma(2.0, 8.0, n)
    return np.log2(rng.poisson(lam) + 1.0), np.log2(rng.poisson(lam * scale) + 1.0)


# ---------------------------------------------------------------- scatter_lims

def test_scatter_lims_honours_buffer():
    v = np.array([2.0, 7.0])
    for buffer in (0.0, 0.05, 0.3):
        assert scatter_lims(v, buffer=buffer) == pytest.approx((2 - 5 * buffer, 7 + 5 * buffer))
    # minimum of exactly 0 (counts) gets half a margin below; NaN/inf ignored; v2 shares the range
    assert scatter_lims([0.0, 10.0, np.nan], [4.0, np.inf], buffer=0.2) == pytest.approx((-1.0, 12.0))
    assert scatter_lims([3.0, 3.0]) == pytest.approx((3 - 0.15, 3 + 0.15))   # constant: a window around it
    with pytest.raises(ValueError, match=r'buffer: expected a finite number >= 0, got -0\.1'):
        scatter_lims(v, buffer=-0.1)
    with pytest.raises(ValueError, match='v1: expected at least one finite value'):
        scatter_lims([np.nan, np.inf])


# ---------------------------------------------------------------- pairs

def test_outliers_removed_as_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000); y = x + rng.normal(scale=0.5, size=1000)
    x[10], y[20] = 50.0, -50.0           # an outlier on each axis, in different pairs
    g = jointplot(x, y, outlier_low=1, outlier_high=99, cor=None)
    got = points(g.ax_joint)
    # independent reference: each axis' percentiles, a pair kept only if both coordinates are inside
    lx, hx = np.percentile(x, [1, 99]); ly, hy = np.percentile(y, [1, 99])
    keep = (x >= lx) & (x <= hx) & (y >= ly) & (y <= hy)
    np.testing.assert_array_equal(got, np.c_[x[keep], y[keep]])
    assert not keep[10] and not keep[20]
    # every plotted point is an original pair (separate filtering of x and y would mis-pair them)
    assert set(map(tuple, got)) <= set(zip(x, y))
    assert len(got) == keep.sum() < 1000 - 2 * 10 + 1


def test_nan_and_inf_pairs_dropped_with_count():
    x, y = counts(50)
    x[[3, 7]] = np.nan; y[11] = np.inf
    with pytest.warns(PlotWarning, match=r'jointplot: dropped 3 of 50 pairs with NaN or inf in x or y'):
        g = jointplot(x, y)
    got = points(g.ax_joint)
    assert len(got) == 47 and np.isfinite(got).all()
    with pytest.warns(PlotWarning, match=r'regplot: dropped 1 of 50 pairs with NaN or inf in x, y or colors'):
        ax = regplot(*counts(50), colors=np.r_[np.nan, np.ones(49)])
    assert len(points(ax)) == 49


def test_sample_is_seeded_reproducible_and_keeps_pairs():
    x, y = counts(2000)
    c = np.arange(2000.0)
    a = points(regplot(x, y, colors=c, sample=300, seed=5))
    b = points(regplot(x, y, colors=c, sample=300, seed=5))
    d = points(regplot(x, y, colors=c, sample=300, seed=6))
    np.testing.assert_array_equal(a, b)
    assert len(a) == 300 and not np.array_equal(a, d)
    # colours follow the sampled pairs
    ax = regplot(x, y, colors=c, sample=300, seed=5)
    (coll,) = by_gid(ax.collections, 'genomenn-points')
    idx = np.asarray(coll.get_array(), np.int64)
    np.testing.assert_array_equal(points(ax), np.c_[x[idx], y[idx]])
    assert clean_pairs(x, y, sample=5000).x.size == 2000          # sample above n: everything


@pytest.mark.parametrize('cor,name,fn', [('pearsonr', 'PearsonR', stats.pearsonr),
                                         ('spearmanr', 'SpearmanR', stats.spearmanr),
                                         ('kendalltau', 'KendallTau', stats.kendalltau)])
@pytest.mark.parametrize('plot', ['jointplot', 'regplot'])
def test_correlation_text_is_scipy_on_plotted_pairs(cor, name, fn, plot):
    x, y = counts(3000, seed=2)
    x[:4] = np.nan
    kw = dict(cor=cor, print_sig=True, sample=200, seed=3, outlier_high=98)
    with pytest.warns(PlotWarning, match='dropped 4 of 3,000'):
        ax = jointplot(x, y, **kw).ax_joint if plot == 'jointplot' else regplot(x, y, **kw)
    pts = points(ax)
    res = fn(pts[:, 0], pts[:, 1])
    p = res.pvalue
    assert text(ax, 'genomenn-cor') == f'{name}: {res.statistic:.3f}\np ' + (f'{p:.3f}' if p > 1e-3 else f'{p:.1e}')
    # the correlation of all finite input differs: the annotation really comes from the plotted pairs
    ok = np.isfinite(x)
    assert f'{fn(x[ok], y[ok]).statistic:.3f}' != f'{res.statistic:.3f}'


def test_cor_none_and_print_sig_never_crash():
    x, y = counts(100)
    ax = regplot(x, y, cor=None, print_sig=True)
    assert by_gid(ax.texts, 'genomenn-cor') == []
    g = jointplot(x, y, cor='spearman', print_sig=True)        # alias accepted
    assert text(g.ax_joint, 'genomenn-cor').startswith('SpearmanR: ')
    with pytest.raises(ValueError,
                       match=r"cor: expected one of 'pearsonr', 'spearmanr', 'kendalltau' or None, got 'r2'"):
        jointplot(x, y, cor='r2')
    assert cor_text([1, 2, 3, 4], [2, 4, 6, 8.5],
                    print_sig=True).endswith('\np ' + f'{stats.pearsonr([1, 2, 3, 4], [2, 4, 6, 8.5]).pvalue:.3f}')
    assert np.isnan(correlation([1, 2], [3, 4])[0])


def test_text_means_are_means_of_plotted_pairs():
    x, y = counts(500)
    g = jointplot(x, y, text_means=True, sample=100)
    pts = points(g.ax_joint)
    assert text(g.ax_joint, 'genomenn-mean-x') == f'x mean {pts[:, 0].mean():.3f}'
    assert text(g.ax_joint, 'genomenn-mean-y') == f'y mean {pts[:, 1].mean():.3f}'


# ---------------------------------------------------------------- limits and diagonal

def test_square_limits_and_diagonal():
    x, y = counts(300, scale=2.0)
    g = jointplot(x, y, square=True, buffer=0.1)
    pts = points(g.ax_joint)
    lims = scatter_lims(pts[:, 0], pts[:, 1], buffer=0.1)
    assert g.ax_joint.get_xlim() == pytest.approx(lims) and g.ax_joint.get_ylim() == pytest.approx(lims)
    (diag,) = by_gid(g.ax_joint.lines, 'genomenn-diagonal')
    np.testing.assert_allclose(diag.get_xdata(), lims); np.testing.assert_allclose(diag.get_ydata(), lims)
    assert diag.get_linestyle() == '--'
    g = jointplot(x, y, square=False, buffer=0.1)
    assert g.ax_joint.get_xlim() == pytest.approx(scatter_lims(x, buffer=0.1))
    assert g.ax_joint.get_ylim() == pytest.approx(scatter_lims(y, buffer=0.1))
    assert by_gid(g.ax_joint.lines, 'genomenn-diagonal') == []
    ax = regplot(x, y)                                       # Basenji's regplot default: square
    assert ax.get_xlim() == pytest.approx(scatter_lims(x, y)) and len(by_gid(ax.lines, 'genomenn-diagonal')) == 1


def test_regplot_draws_into_given_ax_and_fits_the_polynomial():
    x = np.linspace(0, 4, 200); y = 0.5 * x**2 - x + np.random.default_rng(0).normal(0, 0.1, 200)
    fig, axs = plt.subplots(1, 2)
    ax = regplot(x, y, ax=axs[1], poly_order=2, ci=None, square=False, x_label='measured', y_label='predicted',
                 title='t')
    assert ax is axs[1]
    assert len(axs[0].collections) == 0
    (fit,) = by_gid(ax.lines, 'genomenn-fit')
    coef = np.polyfit(x, y, 2)
    np.testing.assert_allclose(fit.get_ydata(), np.polyval(coef, fit.get_xdata()), atol=1e-8)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ('measured', 'predicted', 't')
    # widget-style redraw: clear and draw a new selection into the same Axes
    ax.clear(); regplot(x[:50], y[:50], ax=ax, ci=None)
    assert len(points(ax)) == 50


def test_kinds_and_colorbar():
    x, y = counts(400)
    g = jointplot(x, y, kind='hex')
    (hexes,) = by_gid(g.ax_joint.collections, 'genomenn-hexbin')
    assert hexes.get_array().sum() == 400
    g = jointplot(x, y, kind='reg', ci=None, poly_order=1)
    assert len(points(g.ax_joint)) == 400 and len(by_gid(g.ax_joint.lines, 'genomenn-fit')) == 1
    g = jointplot(x, y, kind='kde')
    assert by_gid(g.ax_joint.collections, 'genomenn-points') == [] and len(g.ax_joint.collections) > 0
    g = jointplot(x, y, colors=x - y)
    (coll,) = by_gid(g.ax_joint.collections, 'genomenn-points')
    np.testing.assert_array_equal(coll.get_array(), x - y)
    assert coll.colorbar is not None and coll.colorbar.ax in g.ax_marg_x.child_axes   # colour bar in the grid's corner
    ax = regplot(x, y, colors=x - y)
    (coll,) = by_gid(ax.collections, 'genomenn-points')
    assert coll.colorbar is not None and coll.colorbar.ax in ax.figure.axes
    assert by_gid(jointplot(x, y).ax_joint.collections, 'genomenn-points')[0].colorbar is None
    with pytest.raises(ValueError, match=r"kind: expected one of 'scatter', 'hex', 'reg', 'kde', got 'violin'"):
        jointplot(x, y, kind='violin')
    with pytest.raises(ValueError, match=r"colors: only drawn for kind 'scatter' or 'reg', got kind='kde'"):
        jointplot(x, y, kind='kde', colors=x)


def test_bootstrap_band_dropped_above_limit():
    x, y = counts(CI_MAX_PAIRS + 1)
    with pytest.warns(PlotWarning, match='without its bootstrap band'):
        regplot(x, y, ci=95, max_points=None)


# ---------------------------------------------------------------- large inputs

def test_large_input_switches_to_hexbin_with_note():
    x, y = counts(5000)
    with pytest.warns(PlotWarning, match=r'jointplot: 5,000 pairs > max_points=1,000: drawn as a hexbin of counts'):
        g = jointplot(x, y, max_points=1000, cor='pearsonr')
    (hexes,) = by_gid(g.ax_joint.collections, 'genomenn-hexbin')
    assert hexes.get_array().sum() == 5000
    assert text(g.ax_joint, 'genomenn-note') == '5,000 pairs: hexbin of counts'
    assert text(g.ax_joint, 'genomenn-cor') == f'PearsonR: {stats.pearsonr(x, y).statistic:.3f}'   # all plotted pairs
    with pytest.warns(PlotWarning, match='drawn as rasterised points'):
        ax = regplot(x, y, max_points=1000, large='raster', ci=None)
    (coll,) = by_gid(ax.collections, 'genomenn-points')
    assert coll.get_rasterized() and len(coll.get_offsets()) == 5000


def test_million_pairs_small_file(tmp_path):
    rng = np.random.default_rng(0)
    lam = rng.gamma(2.0, 8.0, 1_000_000)
    x, y = np.log2(rng.poisson(lam) + 1.0), np.log2(rng.poisson(lam) + 1.0)
    with pytest.warns(PlotWarning, match='1,000,000 pairs'):
        g = jointplot(x, y, tmp_path / 'big.pdf', square=True)
    (hexes,) = by_gid(g.ax_joint.collections, 'genomenn-hexbin')
    assert hexes.get_array().sum() == 1_000_000
    assert (tmp_path / 'big.pdf').read_bytes()[:5] == b'%PDF-'
    assert (tmp_path / 'big.pdf').stat().st_size < 5e6


# ---------------------------------------------------------------- saving

def test_saves_atomically_with_format_from_suffix_and_table(tmp_path):
    x, y = counts(300)
    out = tmp_path / 'scatter.png'
    out.write_bytes(b'old')                                   # replaced, not appended to
    g = jointplot(x, y, out, figsize=(4, 5), dpi=50, table=True, sample=120, seed=9)
    with Image.open(out) as im: assert im.format == 'PNG' and im.size == (200, 250)
    tab = pd.read_csv(tmp_path / 'scatter.tsv', sep='\t')
    assert list(tab.columns) == ['x', 'y']
    np.testing.assert_array_equal(tab.to_numpy(), points(g.ax_joint))
    regplot(x, y, tmp_path / 'reg.svg', colors=y - x, table=True)
    assert (tmp_path / 'reg.svg').read_text().lstrip().startswith('<?xml')
    tab = pd.read_csv(tmp_path / 'reg.tsv', sep='\t')
    assert list(tab.columns) == ['x', 'y', 'color'] and np.allclose(tab['color'], y - x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['reg.svg', 'reg.tsv', 'scatter.png', 'scatter.tsv']


def test_saved_files_get_the_umask_mode_and_a_failure_keeps_the_old_file(tmp_path, umask027):
    "save_figure and the pairs table: the umask's permissions (not mkstemp's 0600), no temporary file left."
    x, y = counts(50)
    out, want = tmp_path / 'reg.png', {'reg.png': 0o640, 'reg.tsv': 0o640}
    regplot(x, y, out, table=True, dpi=20, figsize=(2, 2))
    assert file_modes(tmp_path) == want
    fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1])
    before = out.read_bytes()
    with pytest.raises(TypeError, match='not_an_option'): save_figure(fig, out, not_an_option=1)
    assert file_modes(tmp_path) == want and out.read_bytes() == before
    save_figure(fig, out, dpi=20); plt.close(fig)
    assert file_modes(tmp_path) == want and out.read_bytes() != before


def test_save_errors(tmp_path):
    x, y = counts(20)
    with pytest.raises(ValueError, match=r"out: expected a file name ending in one of .*\.png.*, got '.*scatter\.txt'"):
        jointplot(x, y, tmp_path / 'scatter.txt')
    with pytest.raises(ValueError, match='out: folder .* does not exist'):
        regplot(x, y, tmp_path / 'no' / 'scatter.png')
    with pytest.raises(ValueError, match=r'table: True needs out='):
        regplot(x, y, table=True)
    assert list(tmp_path.iterdir()) == []
    fig, ax = plt.subplots(figsize=(2, 1)); ax.plot([0, 1])
    assert save_figure(fig, tmp_path / 'f.jpg', dpi=40).stat().st_size > 0
    with Image.open(tmp_path / 'f.jpg') as im: assert im.format == 'JPEG' and im.size == (80, 40)


def test_input_checks():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match=r'y: expected shape \(10,\) \(like x\), got \(9,\)'):
        jointplot(x, x[:9])
    with pytest.raises(ValueError, match=r'x: expected numbers, got dtype <U1'):
        regplot(np.array(list('abc')), np.arange(3))
    with pytest.raises(ValueError, match=r'colors: expected 10 values \(one per pair\), got shape \(3,\)'):
        regplot(x, x, colors=[1, 2, 3])
    with pytest.raises(ValueError, match=r'outlier_low: expected below outlier_high=5, got 10'):
        jointplot(x, x, outlier_low=10, outlier_high=5)
    with pytest.raises(ValueError, match=r'outlier_high: expected a percentile in \[0, 100\] or None, got 150'):
        jointplot(x, x, outlier_high=150)
    with pytest.raises(ValueError, match=r'sample: expected None or an integer >= 1, got 0'):
        regplot(x, x, sample=0)
    with pytest.raises(ValueError, match=r'x, y: no pairs left to plot \(3 given, 3 with NaN/inf'):
        with pytest.warns(PlotWarning):
            jointplot([np.nan] * 3, [1, 2, 3])
    # 2-D inputs are paired element-wise and flattened
    p = clean_pairs(np.arange(6.).reshape(2, 3), np.arange(6.).reshape(2, 3) * 2)
    assert isinstance(p, Pairs) and np.array_equal(p.y, 2 * p.x) and p.n_input == 6


# ---------------------------------------------------------------- attribution logo, ISM heatmap

def glyph_extents(ax):
    "{(base, position): (floor, ceiling)} from the logo's letter patches."
    out = {}
    for p in ax.patches:
        gid = str(p.get_gid())
        if gid.startswith('logo:'):
            _, c, pos = gid.split(':')
            e = p.get_path().get_extents()
            out[(c, int(pos))] = (e.y0, e.y1)
    return out


def test_logo_letters_and_heights_match_input():
    attr = np.array([[0.5, 0.0, 0.0, -0.25],
                     [0.0, 1.0, 0.3, 0.0],
                     [0.0, 0.0, 0.0, 0.7]])
    ax = attribution_logo(attr, start=100)
    ext = glyph_extents(ax)
    assert set(ext) == {('A', 100), ('T', 100), ('C', 101), ('G', 101), ('T', 102)}
    for (c, pos), (lo, hi) in ext.items():
        v = attr[pos - 100, 'ACGT'.index(c)]
        assert hi - lo == pytest.approx(abs(v), abs=1e-6)
        assert (lo >= -1e-9) if v > 0 else (hi <= 1e-9)            # positive above zero, negative below
    for i in range(3):                                                # each column stacks to its sums
        col = [e for (c, pos), e in ext.items() if pos == 100 + i]
        assert max(hi for _, hi in col) == pytest.approx(max(attr[i][attr[i] > 0].sum(), 0))
        assert min(lo for lo, _ in col) == pytest.approx(min(attr[i][attr[i] < 0].sum(), 0))
    assert ext[('C', 101)] == pytest.approx((0.3, 1.3))          # larger letter stacked on top
    assert ax.get_xlim() == (99.5, 102.5)


def test_logo_gradient_x_input_and_ism_importance():
    rng = np.random.default_rng(0)
    seq = np.eye(4)[[0, 3, 2, 1, 1]]
    grad = rng.normal(size=(5, 4))
    ext = glyph_extents(attribution_logo(grad, seq_1hot=seq))
    assert set(c for c, _ in ext) <= set('ACGT') and set(ext) <= {('ACGT'[b], i) for i, b in enumerate([0, 3, 2, 1, 1])}
    for (c, pos), (lo, hi) in ext.items(): assert hi - lo == pytest.approx(abs(grad[pos, 'ACGT'.index(c)]), abs=1e-6)
    ism = rng.normal(size=(5, 4)); ism[seq > 0] = 0
    imp = ism_importance(ism, seq)
    for i in range(5):                                             # reference: loop over positions
        ref = seq[i].argmax()
        assert imp[i, ref] == pytest.approx(-np.mean([ism[i, b] for b in range(4) if b != ref]))
        assert np.all(imp[i, np.arange(4) != ref] == 0)
    ext = glyph_extents(attribution_logo(ism, seq_1hot=seq, ism=True))
    for (c, pos), (lo, hi) in ext.items(): assert hi - lo == pytest.approx(abs(imp[pos, 'ACGT'.index(c)]), abs=1e-6)
    assert ism_importance(np.ones((2, 4)), np.zeros((2, 4))).tolist() == [[0] * 4] * 2     # N: no height
    with pytest.raises(ValueError, match=r'seq_1hot: ism=True needs the reference sequence'):
        attribution_logo(ism, ism=True)


def test_logo_highlight_and_window():
    attr = np.random.default_rng(1).normal(size=(40, 4))
    ax = attribution_logo(attr, start=1000, window=(1010, 1030), highlight=[(1012, 1015), (1025, 1040), (1000, 1005)])
    hl = sorted(p.get_gid() for p in ax.patches if str(p.get_gid()).startswith('highlight'))
    assert hl == ['highlight:1012:1015', 'highlight:1025:1030']    # clipped to the window; outside: nothing
    (p,) = [p for p in ax.patches if p.get_gid() == 'highlight:1012:1015']
    xs = p.get_path().transformed(p.get_patch_transform()).vertices[:, 0]
    assert min(xs) == pytest.approx(1011.5) and max(xs) == pytest.approx(1014.5)
    assert {pos for _, pos in glyph_extents(ax)} == set(range(1010, 1030))
    ax = attribution_logo(attr, highlight=(3, 9))                  # one interval without a list
    assert [p.get_gid() for p in ax.patches if str(p.get_gid()).startswith('highlight')] == ['highlight:3:9']
    with pytest.raises(ValueError, match=r'attr: expected shape \(L, 4\), got \(40, 3\)'):
        attribution_logo(attr[:, :3])
    with pytest.raises(ValueError, match=r'seq_1hot: expected shape \(40, 4\), got \(39, 4\)'):
        attribution_logo(attr, seq_1hot=np.eye(4)[np.zeros(39, int)])
    with pytest.raises(ValueError, match=r'window: expected 0 <= start < end <= 40, got \(30, 50\)'):
        attribution_logo(attr, window=(30, 50))
    with pytest.raises(ValueError, match=r'highlight: expected \(start, end\) pairs with start < end, got \(5, 5\)'):
        attribution_logo(attr, highlight=[(5, 5)])


def test_ism_heatmap(tmp_path):
    rng = np.random.default_rng(2)
    seq = random_1hot(1, 30, dtype=F64, rng=rng)[0]
    ism = rng.normal(size=(30, 4)); ism[seq > 0] = 0
    ax = ism_heatmap(ism, seq_1hot=seq, start=50, window=(55, 70), highlight=[(60, 64)], out=tmp_path / 'ism.png')
    np.testing.assert_array_equal(ax.images[0].get_array(), ism[5:20].T)
    vmax = np.abs(ism[5:20]).max()
    assert ax.images[0].get_clim() == pytest.approx((-vmax, vmax))
    (ref,) = by_gid(ax.collections, 'genomenn-ref')
    np.testing.assert_array_equal(ref.get_offsets(), np.c_[np.arange(55, 70), seq[5:20].argmax(1)])
    assert [p.get_gid() for p in ax.patches] == ['highlight:60:64']
    assert [t.get_text() for t in ax.get_yticklabels()] == list('ACGT')
    with Image.open(tmp_path / 'ism.png') as im: assert im.format == 'PNG'
    with pytest.raises(ValueError, match=r'ism: expected shape \(L, 4\), got \(30,\)'):
        ism_heatmap(ism[:, 0])


def test_logo_and_ism_heatmap_labels():
    rng = np.random.default_rng(3)
    seq = random_1hot(1, 20, dtype=F64, rng=rng)[0]
    ism = rng.normal(size=(20, 4)); ism[seq > 0] = 0
    ax = ism_heatmap(ism, seq_1hot=seq)                                  # defaults: units on the axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ('position (bp)', 'substituted base')
    assert ax.figure.axes[-1].get_ylabel() == 'ISM'                      # the colour bar
    ax = ism_heatmap(ism, colorbar_label='change of predicted coverage (counts)', x_label='chr1 (bp)', y_label='alt')
    assert (ax.get_xlabel(), ax.get_ylabel()) == ('chr1 (bp)', 'alt')
    assert ax.figure.axes[-1].get_ylabel() == 'change of predicted coverage (counts)'
    assert len(ism_heatmap(ism, colorbar=False).figure.axes) == 1
    assert attribution_logo(ism).get_xlabel() == 'position (bp)'
    ax = attribution_logo(ism, seq_1hot=seq, ism=True, x_label='chr1 (bp)')
    assert (ax.get_xlabel(), ax.get_ylabel()) == ('chr1 (bp)', 'ISM importance')


# ---------------------------------------------------------------- track plot

def test_track_plot_per_target():
    rng = np.random.default_rng(4)
    tgt = rng.poisson(5, (64, 3)).astype(np.float32)
    prd = (tgt + rng.normal(0, 2, (64, 3))).astype(np.float32)
    axs = track_plot(prd, tgt, pool_width=128, start=2000, target_names=['a', 'b', 'c'])
    assert len(axs) == 3
    for t, ax in enumerate(axs):
        (m,) = by_gid(ax.patches, 'genomenn-target'); (p,) = by_gid(ax.patches, 'genomenn-pred')
        np.testing.assert_array_equal(m.get_data().values, tgt[:, t])
        np.testing.assert_array_equal(p.get_data().values, prd[:, t])
        np.testing.assert_array_equal(m.get_data().edges, 2000 + 128 * np.arange(65))
        assert text(ax, 'genomenn-cor') == f'PearsonR: {stats.pearsonr(tgt[:, t], prd[:, t]).statistic:.3f}'
        assert ax.get_ylabel() == 'abc'[t]
    ax = track_plot(prd, tgt, target=1, cor='spearmanr')
    assert text(ax, 'genomenn-cor') == f'SpearmanR: {stats.spearmanr(tgt[:, 1], prd[:, 1]).statistic:.3f}'
    fig, two = plt.subplots(2)
    assert track_plot(prd, tgt, two, target=[2, 0]) == list(two)
    np.testing.assert_array_equal(by_gid(two[0].patches, 'genomenn-pred')[0].get_data().values, prd[:, 2])
    one = track_plot(prd[:, 0], tgt[:, 0])                       # (P,) inputs
    assert one.get_ylabel() == 'target 0'
    with pytest.raises(ValueError, match=r'targets: expected shape \(64, 3\), got \(64, 2\)'):
        track_plot(prd, tgt[:, :2])
    with pytest.raises(ValueError, match=r'target: expected indices in \[0, 3\), got 3'):
        track_plot(prd, tgt, target=3)
    with pytest.raises(ValueError, match=r'ax: expected 3 Axes \(one per target\), got 2'):
        track_plot(prd, tgt, two)


# ---------------------------------------------------------------- real data

def test_real_cage_coverage_scatter_and_tracks(tmp_path):
    "Two CAGE targets of Basenji's test TFRecord: zero-heavy real coverage through the scatter and track plots."
    from conftest import shared_path
    path = shared_path('tfrecords', 'basenji_cage10', 'cage10-train-00000-of-00100.tfrecord')
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    tf = pytest.importorskip('tensorflow')
    rec = next(iter(tf.data.TFRecordDataset(str(path), compression_type='ZLIB').take(1)))
    feature = {'target': tf.io.FixedLenFeature([20480], tf.float32)}
    tgt = tf.io.parse_single_example(rec, feature)['target'].numpy().reshape(2048, 10)
    x, y = np.log2(tgt[:, 0] + 1), np.log2(tgt[:, 1] + 1)
    g = jointplot(x, y, tmp_path / 'cage.png', outlier_high=99, square=True, print_sig=True, table=True)
    pts = points(g.ax_joint)
    hx, hy = np.percentile(x, 99), np.percentile(y, 99)
    assert len(pts) == ((x <= hx) & (y <= hy)).sum()
    r = stats.pearsonr(pts[:, 0], pts[:, 1])
    assert text(g.ax_joint, 'genomenn-cor').split('\n')[0] == f'PearsonR: {r.statistic:.3f}'
    np.testing.assert_allclose(pd.read_csv(tmp_path / 'cage.tsv', sep='\t').to_numpy(), pts, rtol=1e-6)
    axs = track_plot(tgt[:256, 2:4], tgt[:256, :2], pool_width=128)
    r = stats.pearsonr(tgt[:256, 0], tgt[:256, 2])
    assert len(axs) == 2 and text(axs[0], 'genomenn-cor') == f'PearsonR: {r.statistic:.3f}'
