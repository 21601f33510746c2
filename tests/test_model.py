"""SeqNN (genomenn.model): every real params file builds (or is rejected) with the shape worked out by hand,
legacy layer lists follow the HParams expansion, training works on synthetic and real data, weights round-trip."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import shared_path
from helpers import F64, random_1hot
from keras import layers as kl

from genomenn.losses import make_loss
from genomenn.metrics import MetricWarning
from genomenn.model import SeqNN, make_optimizer, synthetic_params
from genomenn.params import ParamsError, make_hparams, read_job_params
from genomenn.synthetic import synthetic_dataset
from genomenn.tfrecords import SeqDataset

# Output shape per head, worked out from the blocks: L / pooling - 2 * cropping (pool_size 'same' rounds up).
#  biorxiv2019/cross2020: 131072 / (2 * 2**6) = 1024 bins, Cropping1D 64 -> 896 (the files declare target_length 1024)
#  basset: 1344 / 3 = 448, / 2**6 = 7 bins, dense_block flatten -> one position (as Basenji), final 164 -> (1, 164)
#  train_full: 262144 / 128 = 2048, Cropping1D 128 -> 1792 (declares 2048); wheeze_excite keeps the length
#  tutorials params_small.json: 131072 / (8 * 4 * 4) = 1024, no cropping (no target_length declared)
#  enformer: 196608 / 2**7 = 1536, transformer_tower keeps the length, Cropping1D 320 -> 896; two heads
JSON_BUILDS = {
    'basenji-history__manuscripts__biorxiv2019__params_mouse.json': ([(896, 1643)], 1024, [1, 2, 128, 128, 128, 128]),
    'basenji__manuscripts__basset__params_basset.json': ([(1, 164)], None, [1, 3, 192, 192, 1344]),
    'basenji__manuscripts__cross2020__params_human.json': ([(896, 5313)], 1024, [1, 2, 128, 128, 128, 128]),
    'basenji__manuscripts__cross2020__params_mouse.json': ([(896, 1643)], 1024, [1, 2, 128, 128, 128, 128]),
    'basenji__tests__train_full__params.json': ([(1792, 1312)], 2048, [1, 2, 128, 128, 128, 128, 128]),
    'basenji__tutorials__models__params_small.json': ([(1024, 3)], None, [1, 8, 128, 128, 128]),
    # akita: 1048576 / 2048 = 512 bins, a 512 x 512 map cropped by 32 -> 448, pairs above diagonal 2: 446*447/2;
    # its target_length 512 describes the map and agrees (no warning; checked in test_blocks_2d.py)
    'basenji__manuscripts__akita__params.json': ([(99681, 5)], None, [1, 2, 2048, 2048, 2048]),
    'basenji__manuscripts__enformer__params_enformer.json': ([(896, 5313), (896, 1643)], None,
                                                             [1, 2, 128, 128, 128, 128]),
}
# Borzoi-style files (transformer and U-net blocks): their counts and output shapes are checked in test_zoo.py.
BORZOI_BUILDS = ['baskerville__tests__data__params.json', 'baskerville__tests__data__eval__params.json',
                 'baskerville__tests__integration__test__params.json', 'borzoi__examples__params.json',
                 'borzoi__tutorials__latest__train_model__params_micro.json',
                 'borzoi__tutorials__legacy__train_model__params_micro.json'] + [
    f'baskerville__tests__data__transfer__json__{n}.json' for n in
    ('borzoi_full', 'borzoi_houlsby', 'borzoi_ia3', 'borzoi_linear', 'borzoi_lora', 'borzoilite_full',
     'borzoilite_houlsby', 'borzoilite_linear', 'borzoilite_locon4', 'borzoilite_lora', 'borzoilite_se4')]
JSON_REJECTED = {'baskerville__tests__data__transfer__json__load_model_houlsby.json':
                 ["key 'model.adapter'", "adapters are not supported yet"]}
# Legacy: L / 128 bins minus batch_buffer / 128 from each side; the data's targets keep the buffer (target_crop).
LEGACY_BUILDS = {
    'basenji__testdata__params.small.tfrecord.txt': ((1792, 10), 128),            # 262144/128 = 2048 - 2*16384/128
    'basenji__testdata__params.dilated_res.262k.txt': ((1792, 4259), 128),
    'basenji__testdata__params.small.131k.tfrecord.txt': ((960, 32), 32),         # 1024 - 2*4096/128
    'basenji-history__tutorials__models__params_small.txt': ((960, 3), 32),       # cnn_pool 0 = no pooling
    'basenji__manuscripts__genome_research2018__params.txt': ((960, 4229), 32),
}


def quiet(f, *a, **k):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        out = f(*a, **k)
    return out, [str(x.message) for x in w]


def test_every_params_file_is_covered():
    d = shared_path('params')
    names = {p.name for p in d.iterdir()}
    assert names == set(JSON_BUILDS) | set(BORZOI_BUILDS) | set(JSON_REJECTED) | set(LEGACY_BUILDS) | {
        'basenji-branch-master_calico__tutorials__models__params_large.txt'}


@pytest.mark.parametrize('name', sorted(JSON_BUILDS))
def test_json_params_build_with_the_shapes_worked_out(name):
    path = shared_path('params', name)
    shapes, declared, pools = JSON_BUILDS[name]
    s, warns = quiet(SeqNN, path)
    assert [s.output_shape(i) for i in range(len(s.models))] == shapes
    assert s.repr_pools == pools and s.layer_reprs[0] is s.model.inputs[0]
    assert s.seq_length == json.loads(path.read_text())['model']['seq_length']
    mismatch = [w for w in warns if 'target_length' in w]
    if declared is not None and declared != shapes[0][0]:
        assert mismatch and f'model.target_length {declared} differs from the {shapes[0][0]} positions' in mismatch[0]
        assert str(path) in mismatch[0]
    else:
        assert not mismatch
    cropped = False
    for r, p, n in zip(s.layer_reprs[1:], pools[1:], s.repr_names[1:]):  # lengths follow the pooling until a crop
        cropped |= n == 'Cropping1D'
        if len(r.shape) == 3 and not cropped: assert r.shape[1] == -(-s.seq_length//p)


def test_json_crop_offsets():
    s, _ = quiet(SeqNN, shared_path('params', 'basenji__manuscripts__cross2020__params_human.json'))
    assert (s.pool_width, s.crop_bp, s.target_crop) == (128, 64*128, 0)
    assert s.repr_names == ['input', 'conv_block', 'conv_tower', 'dilated_residual', 'Cropping1D', 'conv_block']
    assert s.repr_offsets == [0, 0, 0, 0, 8192, 8192]
    # cross2020: 11 dilated layers, rates rounded after each 1.5x step
    k3 = [l.dilation_rate[0] for l in s.model.layers
          if isinstance(l, kl.Conv1D) and l.name.startswith('trunk2_') and l.kernel_size[0] == 3]
    assert k3 == [1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72]
    tower = [l.filters for l in s.model.layers if isinstance(l, kl.Conv1D) and l.name.startswith('trunk1_')]
    assert tower == [339, 399, 470, 554, 652, 768]


def test_small_json_models_predict_their_shapes():
    basset, _ = quiet(SeqNN, shared_path('params', 'basenji__manuscripts__basset__params_basset.json'))
    X = random_1hot(2, 1344)
    p = basset.predict(X)
    assert p.shape == (2, 1, 164) and not basset.flat and basset.target_length == 1
    assert ((p > 0) & (p < 1)).all()                      # sigmoid head
    small, _ = quiet(SeqNN, shared_path('params', 'basenji__tutorials__models__params_small.json'))
    X = random_1hot(1, 131072, seed=1)
    p = small.predict(X, batch_size=1)
    assert p.shape == (1, 1024, 3) and np.isfinite(p).all() and (p > 0).all()


@pytest.mark.parametrize('name', sorted(JSON_REJECTED))
def test_json_params_genomenn_cannot_build_are_rejected(name):
    path = shared_path('params', name)
    with pytest.raises(ParamsError) as e:
        SeqNN(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ")
    for part in JSON_REJECTED[name]: assert part in msg


def legacy_expected(hp):
    "Per layer (length, channels) from the HParams expansion alone: pools shrink the length, concat adds channels."
    L, C, out = hp.seq_length, 4, []
    for cp in hp.cnn_params:
        C = C + cp.filters if cp.concat else cp.filters
        L = -(-L//(cp.pool*cp.stride))
        out.append((L, C))
    return out


@pytest.mark.parametrize('name', sorted(LEGACY_BUILDS))
def test_legacy_params_build_layer_lists_matching_hparams(name):
    path = shared_path('params', name)
    hp, _ = quiet(make_hparams, read_job_params(path))
    s, _ = quiet(SeqNN, path)
    shape, crop = LEGACY_BUILDS[name]
    assert s.output_shape() == shape and s.target_crop == crop and s.architecture == 'legacy'
    assert len(s.layer_reprs) == len(hp.cnn_params) + 1
    assert [tuple(r.shape[1:]) for r in s.layer_reprs[1:]] == legacy_expected(hp)
    convs = [l for l in s.model.layers if isinstance(l, kl.Conv1D)]
    assert [(l.filters, l.kernel_size[0], l.strides[0], l.dilation_rate[0]) for l in convs] == \
           [(c.filters, c.filter_size, c.stride, c.dilation) for c in hp.cnn_params]
    bns = [l for l in s.model.layers if isinstance(l, kl.BatchNormalization)]
    assert len(bns) == len(hp.cnn_params) and all(b.momentum == hp.batch_norm_momentum for b in bns)
    adds = [l for l in s.model.layers if isinstance(l, kl.Add)]
    assert len(adds) == sum(c.skip_layers > 0 for c in hp.cnn_params)
    final = s.model.layers[-2]
    assert isinstance(final, kl.Dense) and final.units == hp.sum_targets


def test_dilated_res_expansion():
    path = shared_path('params', 'basenji__testdata__params.dilated_res.262k.txt')
    s, _ = quiet(SeqNN, path)
    convs = [l for l in s.model.layers if isinstance(l, kl.Conv1D)]
    # conv_dna (pool 2) + 3 reduce (pool 4: 2 -> 8 -> 32 -> 128) + 8 x (dilated + 1x1 residual) + final
    assert len(convs) == 1 + 3 + 16 + 1
    assert [l.filters for l in convs[:4]] == [256, 320, 400, 500]
    assert [l.dilation_rate[0] for l in convs[4:20:2]] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert s.repr_pools[:5] == [1, 2, 8, 32, 128] and s.crop_bp == 16384


def test_legacy_file_without_num_targets_and_too_large_buffer():
    path = shared_path('params', 'basenji-branch-master_calico__tutorials__models__params_large.txt')
    with pytest.raises(ParamsError, match="key 'num_targets': missing"):
        SeqNN(path)
    with pytest.raises(ParamsError, match=r"key 'batch_buffer': 16384 bp from each side leaves nothing of 1024 bp"):
        quiet(SeqNN, path, num_targets=2)


def test_layer_reprs_compose_with_the_output():
    s = SeqNN(synthetic_params(256, filters=8))
    idx = [1, 3]
    m = keras.Model(s.model.inputs, [s.layer_reprs[i] for i in idx] + [s.model.output])
    X = synthetic_dataset(3, seq_length=256, seed=2).seqs
    outs = m.predict(X, verbose=0)
    assert [o.shape for o in outs] == [(3, 64, 8), (3, 8, 12), (3, 8, 6)]
    np.testing.assert_allclose(outs[-1], s.predict(X), rtol=1e-5)
    assert s.repr_pools == [1, 4, 32, 32, 32]


def test_multi_head_models_share_the_trunk_and_save_together(tmp_path):
    p = synthetic_params(128, filters=8)['model']
    model = {k: v for k, v in p.items() if k != 'head'}
    model.update(head_a={'name': 'final', 'units': 2, 'activation': 'softplus'},
                 head_b=[{'name': 'Cropping1D', 'cropping': 1}, {'name': 'final', 'units': 3}])
    s = SeqNN({'model': model})
    assert s.head_names == ['head_a', 'head_b'] and s.model is s.models[0]
    assert s.output_shape(1) == (2, 3) and s.head_offsets == [0, 32]
    trunk_a = {id(w) for w in s.models[0].weights}; trunk_b = {id(w) for w in s.models[1].weights}
    assert len(trunk_a & trunk_b) == len(s.model_trunk.weights)     # shared
    f = s.save(tmp_path/'two.weights.h5')
    t = SeqNN({'model': model}).restore(f)
    X = synthetic_dataset(2, seq_length=128, seed=3).seqs
    for h in (0, 1): np.testing.assert_array_equal(t.predict(X, head=h), s.predict(X, head=h))


def test_float64_model_matches_float32_and_is_float64():
    a = SeqNN(synthetic_params(128, filters=8))
    b = SeqNN(synthetic_params(128, filters=8), dtype='float64')
    b.model.set_weights([w.astype('float64') for w in a.model.get_weights()])
    X = synthetic_dataset(2, seq_length=128, seed=4).seqs
    pb = b.predict(X)
    assert pb.dtype == np.float64 and all(l.dtype_policy.name == 'float64' for l in b.model.layers[1:])
    np.testing.assert_allclose(pb, a.predict(X), rtol=2e-5)
    # really float64: a perturbation far below float32 resolution changes the output
    d = b.predict(X + 1e-9) - pb
    assert np.abs(d).max() > 0


def test_save_restore_round_trip_and_errors(tmp_path):
    s = SeqNN(synthetic_params(128, filters=8))
    data = synthetic_dataset(40, seq_length=128, seed=5)
    s.fit(data, epochs=1, verbose=0)      # moving statistics and weights away from initialisation
    f = s.save(tmp_path/'m.weights.h5')
    assert sorted(os.listdir(tmp_path)) == ['m.weights.h5']   # no temporary file left
    t = SeqNN(synthetic_params(128, filters=8)).restore(f)
    np.testing.assert_array_equal(t.predict(data.seqs), s.predict(data.seqs))
    with pytest.raises(ValueError, match='the weights do not fit this model'):
        SeqNN(synthetic_params(128, filters=4)).restore(f)
    with pytest.raises(FileNotFoundError, match='no weights file'):
        t.restore(tmp_path/'absent.weights.h5')
    with pytest.raises(ValueError, match="path: expected a name ending in '.weights.h5' \\(all heads\\) or '.h5'"):
        s.save(tmp_path/'m.keras')
    with pytest.raises(ValueError, match="trunk: .* is a genomenn weights file"):
        t.restore(f, trunk=True)


def test_fit_checkpoints_the_best_weights(tmp_path):
    keras.utils.set_random_seed(0)
    data = synthetic_dataset(120, seq_length=128, seed=6)
    tr, va, _ = data.split(0.25, 0.1)
    s = SeqNN(synthetic_params(128, filters=8))
    s.fit(tr, va, epochs=3, verbose=0, out_dir=tmp_path/'run')
    hist = json.loads((tmp_path/'run'/'history.json').read_text())
    assert set(hist) >= {'loss', 'val_loss', 'pearsonr', 'val_pearsonr'} and len(hist['loss']) == 3
    best = int(np.argmin(hist['val_loss']))
    t = SeqNN(synthetic_params(128, filters=8)).restore(tmp_path/'run'/'model_best.weights.h5')
    ev = t.evaluate(va)
    assert ev['loss'] == pytest.approx(hist['val_loss'][best], rel=1e-4)
    np.testing.assert_array_equal(t.predict(va.seqs), s.predict(va.seqs))   # fit ends with the best weights


def test_training_on_synthetic_data_learns_the_motifs():
    """A small model reaches held-out Pearson R well above chance on the motif-driven targets (the notebook's full run:
    >= 0.9)."""
    keras.utils.set_random_seed(1)
    data = synthetic_dataset(n=2000, seq_length=1024, seed=0)
    tr, va, te = data.split()
    s = SeqNN(synthetic_params(1024))
    h = s.fit(tr, va, epochs=8, verbose=0, seed=0)
    assert h.history['val_loss'][-1] < h.history['val_loss'][0]
    r = s.evaluate(te)['pearsonr']
    # independent check of the metric with numpy
    p = s.predict(te.seqs)
    ref = [np.corrcoef(p[..., t].ravel(), te.targets[..., t].ravel())[0, 1] for t in range(6)]
    np.testing.assert_allclose(r, ref, rtol=1e-6)
    motif = r[data.motif_driven]
    assert motif.mean() >= 0.75 and motif.min() >= 0.6, motif


def test_real_data_few_steps(tmp_path):
    "A few training steps on the real tiny hg38 TFRecords: the loss falls, test predictions are finite and shaped."
    d = shared_path('tfrecords', 'baskerville_tiny_hg38')
    train, test = SeqDataset(d, 'train', batch_size=3), SeqDataset(d, 'test', batch_size=2)
    params = {'train': {'optimizer': 'adam', 'learning_rate': 0.01, 'loss': 'poisson', 'patience': 5},
              'model': {'seq_length': 131072, 'activation': 'gelu', 'norm_type': 'batch', 'bn_momentum': 0.9,
                        'trunk': [{'name': 'conv_dna', 'filters': 16, 'kernel_size': 11, 'pool_size': 4},
                                  {'name': 'conv_tower', 'filters_init': 16, 'filters_mult': 1.25, 'kernel_size': 5,
                                   'pool_size': 2, 'repeat': 3},
                                  {'name': 'dilated_residual', 'filters': 8, 'repeat': 2},
                                  {'name': 'Cropping1D', 'cropping': 1024}],
                        'head_human': {'name': 'final', 'units': 74, 'activation': 'softplus'}}}
    keras.utils.set_random_seed(0)
    s = SeqNN(params)
    assert (s.pool_width, s.crop_bp, s.target_length) == (train.pool_width, train.crop_bp, train.target_length)
    before = s.evaluate(train)['loss']
    s.fit(train, epochs=3, verbose=0)
    after = s.evaluate(train)['loss']
    assert after < 0.8*before, (before, after)          # measured: 0.75 -> 0.50
    p = s.predict(test)
    assert p.shape == (2, 2048, 74) and np.isfinite(p).all()
    with pytest.warns(MetricWarning, match='5 of 74 targets'):   # five tracks are all zero in the test split
        ev = s.evaluate(test)
    assert np.isfinite(ev['loss']) and ev['pearsonr'].shape == (74,)
    assert np.isnan(ev['pearsonr']).sum() == 5 and np.isfinite(ev['pearsonr'][test.numpy()[1].std((0, 1)) > 0]).all()


def test_legacy_targets_are_cropped_by_the_buffer():
    job = {'seq_length': 256, 'num_targets': 2, 'batch_buffer': 32, 'cnn_filters': [8, 8], 'cnn_filter_sizes': [5, 3],
           'cnn_pool': [4, 4], 'learning_rate': 0.01, 'optimizer': 'adam'}
    s = SeqNN(job)
    assert s.output_shape() == (16 - 2*2, 2) and s.target_crop == 2
    rng = np.random.default_rng(0)
    X = random_1hot(6, 256, rng=rng)
    Y = rng.poisson(2, (6, 16, 2)).astype('float32')
    ev = s.evaluate((X, Y))
    p = s.predict(X)
    np.testing.assert_allclose(ev['loss'], np.mean(p - Y[:, 2:-2]*np.log(p + 1e-7)), rtol=1e-4)
    with pytest.raises(ValueError,
                       match=r"targets \(B, 12, 2\) do not fit the model's predictions \(B, 12, 2\) with 2 "
                             r"positions cropped"):
        s.fit((X, Y[:, 2:-2]), epochs=1, verbose=0)


def test_bad_inputs():
    s = SeqNN(synthetic_params(128, filters=8))
    X = synthetic_dataset(2, seq_length=128, seed=7).seqs
    with pytest.raises(ValueError,
                       match=r'seqs: expected one-hot \(S, 128, 4\) or DNA strings, got shape \(2, 128, 3\)'):
        s.predict(X[..., :3])
    with pytest.raises(ValueError, match=r'train: expected sequences \(B, 128, 4\), got \(None, 64, 4\)'):
        s.fit((X[:, :64], np.zeros((2, 4, 6))), verbose=0)
    with pytest.raises(ValueError, match=r"train: targets \(B, 4, 5\) do not fit the model's predictions \(B, 4, 6\)"):
        s.fit((X, np.zeros((2, 4, 5))), verbose=0)
    with pytest.raises(ValueError, match='train: expected as many targets as sequences, got 2 and 3'):
        s.fit((X, np.zeros((3, 4, 6))), verbose=0)
    with pytest.raises(ValueError, match=r"head: expected an index in 0\.\.0"):
        s.predict(X, head=2)
    with pytest.raises(ValueError, match='params: expected a params file'):
        SeqNN(42)
    with pytest.raises(ValueError, match='num_targets: only legacy params'):
        SeqNN(synthetic_params(128), num_targets=3)
    with pytest.raises(ParamsError, match=r"key 'model\.seq_length': missing"):
        SeqNN({'trunk': [{'name': 'conv_dna', 'filters': 4}], 'head': {'name': 'final', 'units': 1}})
    with pytest.raises(ParamsError, match="key 'model': no head"):
        SeqNN({'seq_length': 64, 'trunk': [{'name': 'conv_dna', 'filters': 4}]})
    with pytest.raises(ValueError, match='loss: expected one of'):
        make_loss('poisson_xx')
    with pytest.raises(ValueError, match="optimizer: expected 'sgd'"):
        make_optimizer({'optimizer': 'rmsprop'})
    with pytest.raises(ValueError, match='learning_rate: expected a positive number'):
        make_optimizer({'learning_rate': 0})


def test_optimizer_and_loss_from_params():
    o = make_optimizer({'optimizer': 'sgd', 'learning_rate': 0.15, 'momentum': 0.99, 'clip_norm': 2})
    assert type(o).__name__ == 'SGD' and float(o.momentum) == 0.99 and o.clipnorm == 2
    assert float(o.learning_rate) == pytest.approx(0.15)
    o = make_optimizer({'optimizer': 'adam', 'learning_rate': 6e-5, 'global_clipnorm': 0.15, 'adam_beta2': 0.98})
    assert type(o).__name__ == 'Adam' and o.global_clipnorm == 0.15 and float(o.beta_2) == 0.98
    hp = make_hparams({'num_targets': 2, 'optimizer': 'adam', 'learning_rate': 0.002, 'grad_clip': 5, 'cnn_filters': 4})
    s = SeqNN(hp)
    assert s.train_params['global_clipnorm'] == 5 and s.train_params['learning_rate'] == 0.002
    y, p = np.array([[0., 2., 5.]]), np.array([[0.5, 1.5, 4.]])
    np.testing.assert_allclose(float(make_loss('poisson')(y, p)), np.mean(p - y*np.log(p + 1e-7)), rtol=1e-6)
    np.testing.assert_allclose(float(make_loss('mse')(y, p)), np.mean((p - y)**2), rtol=1e-6)


def test_predict_ensemble_against_numpy_members():
    """rc/shift ensemble = mean of members, each flipped back with strand-paired tracks swapped (baskerville's
    build_ensemble)."""
    from genomenn.data import hot1_augment
    s = SeqNN(synthetic_params(seq_length=256, num_targets=4, filters=8), dtype='float64')
    X = random_1hot(3, 256, dtype=F64)
    pair = np.array([1, 0, 3, 2])
    ref = []
    for shift in (-3, 0, 2):
        for rc in (False, True):
            y = s.model(hot1_augment(X, not rc, shift), training=False).numpy()
            ref.append(y[:, ::-1][..., pair] if rc else y)
    got = s.predict(X, rc=True, shifts=(-3, 0, 2), strand_pair=pair, batch_size=2)
    np.testing.assert_allclose(got, np.mean(ref, 0), rtol=1e-10)
    no_pair = s.predict(X, rc=True, shifts=(-3, 0, 2), batch_size=2)
    assert np.abs(no_pair - got).max() > 1e-6                      # the swap changes paired tracks
    np.testing.assert_allclose(s.predict(X), s.model(X, training=False).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match='strand_pair: expected 4 integers'):
        s.predict(X, rc=True, strand_pair=[0, 1])
    with pytest.raises(ValueError, match='shifts: every |shift| must be smaller'):
        s.predict(X, shifts=(256,))


def test_fit_augments_as_the_params_ask():
    p = synthetic_params(seq_length=256, num_targets=2, filters=8)
    p['model'].update(augment_rc=True, augment_shift=3)
    s = SeqNN(p)
    X = random_1hot(8, 256, seed=1)
    Y = np.random.default_rng(2).gamma(1., size=(8, 8, 2)).astype('float32')
    seen = set()
    for x, y in s.augment_dataset(tf.data.Dataset.from_tensors((X, Y)).repeat(60), 0, [1, 0], seed=0):
        flip = not np.array_equal(y.numpy(), Y)
        if flip: np.testing.assert_array_equal(y.numpy(), Y[:, ::-1][..., [1, 0]])
        seen.add(flip)
    assert seen == {False, True}
    h = s.fit((X, Y), epochs=1, verbose=0, strand_pair=[1, 0], seed=0)
    assert np.isfinite(h.history['loss'][0])
    p['model']['augment_shift'] = 300
    with pytest.raises(ParamsError, match=r"augment_shift.*0\.\.255, got 300"):
        SeqNN(p).fit((X, Y), epochs=1, verbose=0)


def test_predict_ensemble_of_a_contact_map_head_reorders_the_triangle():
    "An rc member of an Akita-style head: its upper-triangle pairs reorder as basenji's SwitchReverseTriu, not flip."
    from genomenn.blocks_2d import triu_rc_order
    p = {'model': {'seq_length': 256, 'trunk': [{'name': 'conv_dna', 'filters': 6, 'kernel_size': 5, 'pool_size': 16}],
                   'head': [{'name': 'one_to_two'}, {'name': 'concat_dist_2d'}, {'name': 'conv_block_2d', 'filters': 4},
                            {'name': 'upper_tri', 'diagonal_offset': 2}, {'name': 'final', 'units': 2}]}}
    s = SeqNN(p, dtype='float64')
    assert s.map_length == 16 and s.output_shape() == (14*15//2, 2)
    X = random_1hot(2, 256, seed=3, dtype=F64)
    fwd = s.model(X, training=False).numpy()
    rev = s.model(X[:, ::-1, ::-1].copy(), training=False).numpy()[:, triu_rc_order(16, 2)]
    np.testing.assert_allclose(s.predict(X, rc=True), (fwd + rev)/2, rtol=1e-10)
    assert np.abs(s.predict(X, rc=True) - (fwd + rev[:, ::-1])/2).max() > 1e-6     # a flip would be wrong
    from genomenn.gradients import gradients
    with pytest.raises(ValueError, match="rc: a contact-map head's reverse-complement members"):
        gradients(s, X, rc=True, verbose=False)
    assert gradients(s, X, targets=[1], verbose=False).grads[0].shape == (2, 1, 256, 4)
