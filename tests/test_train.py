"""genomenn.train and genomenn.losses: baskerville's losses, joint multi-head training, checkpoints, resume,
bad input."""
import json
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import run, shared_path
from helpers import file_modes, random_1hot, tiny_tfrecords

from genomenn.cli import main
from genomenn.data import DataError
from genomenn.losses import LOSSES, make_loss
from genomenn.model import SeqNN
from genomenn.train import Trainer, head_data, train_model

EPS = 1e-7

# float64 numpy, written from baskerville's metrics.py / tf.keras 2 definitions
def np_poisson(y, p): return np.mean(p - y*np.log(p + EPS), -1)
def np_mse(y, p): return np.mean((p - y)**2, -1)
def np_mse_udot(y, p, w=1.):
    return np_mse(y, p) - w*np.mean((y - y.mean(-1, keepdims=True))*(p - p.mean(-1, keepdims=True)), -1)
def np_bce(y, p):
    q = np.clip(p, EPS, 1 - EPS)
    return -np.mean(y*np.log(q + EPS) + (1 - y)*np.log(1 - q + EPS), -1)
def np_poisson_kl(y, p, w=1.):
    yt, yp = y + EPS, p + EPS
    yt, yp = np.clip(yt/yt.sum(-1, keepdims=True), EPS, 1), np.clip(yp/yp.sum(-1, keepdims=True), EPS, 1)
    return np_poisson(y, p) + w*np.sum(yt*np.log(yt/yp), -1)
def np_poisson_mn(y, p, tw=1., wr=1., we=4.):
    L = y.shape[1]
    if wr == 1: w = np.ones(L)
    else:
        x = np.arange(-(L/2 - .5), L/2 + .5); sig = (L/2 - .5)/np.log(wr)**(1/we)
        w = np.exp(-(x/sig)**we); w /= w.max()
    w = w[None, :, None]; y, p = y*w, p*w
    st, sp = y.sum(1), p.sum(1)
    return (-((y + EPS)*np.log((p + EPS)/sp[:, None])).sum(1) + tw*(sp - st*np.log(sp + EPS)))/w.sum()


@pytest.mark.parametrize('name,opts,ref', [
    ('poisson', {}, np_poisson), ('mse', {}, np_mse), ('gaussian', {}, np_mse),
    ('mse_udot', {'spec_weight': 0.7}, lambda y, p: np_mse_udot(y, p, 0.7)),
    ('poisson_kl', {'spec_weight': 2.}, lambda y, p: np_poisson_kl(y, p, 2.)),
    ('poisson_mn', {'total_weight': 0.2}, lambda y, p: np_poisson_mn(y, p, 0.2, 1., 1.)),
    ('poisson_mn', {'total_weight': 0.5, 'weight_range': 4., 'weight_exp': 4}, lambda y,
     p: np_poisson_mn(y, p, .5, 4., 4.)),
    ('bce', {}, np_bce)])
def test_losses_against_float64_numpy(name, opts, ref):
    rng = np.random.default_rng(3)
    y = rng.gamma(1., 2., (4, 12, 6))*(rng.random((4, 12, 6)) > 0.3)   # zeros among targets
    p = rng.gamma(2., 1., (4, 12, 6))*(rng.random((4, 12, 6)) > 0.1)   # and predictions
    if name == 'bce': y, p = (y > 1).astype(float), p/p.max()
    loss = make_loss(name, opts)
    per = np.asarray(LOSSES[name](y, p, **loss.options))               # float64 throughout
    np.testing.assert_allclose(per, ref(y, p), rtol=1e-6 if name == 'poisson_mn' and opts.get('weight_range',
                                                                                              1) > 1 else 1e-12)
    np.testing.assert_allclose(float(loss(y.astype('float32'), p.astype('float32'))), ref(y, p).mean(),
                               rtol=5e-4 if name == 'bce' else 2e-5)  # float32: 1 - 1e-7 rounds


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError,
                       match=r"loss: expected one of \['poisson', 'poisson_mn', 'poisson_kl', 'mse', 'mse_udot'"):
        make_loss('huber')


def toy_params(L=256, T=(74, 32), filters=8, **train):
    heads = {f'head_{n}': {'name': 'final', 'units': t, 'activation': 'softplus'} for n,
             t in zip(('human', 'mouse'), T)}
    return {'train': {'batch_size': 4, 'optimizer': 'adam', 'learning_rate': 0.01, 'loss': 'poisson_mn',
                      'total_weight': 0.2,
                      'patience': 5, 'shuffle_buffer': 16, 'warmup_steps': 3, 'global_clipnorm': 5., **train},
            'model': {'seq_length': L, 'activation': 'gelu', 'augment_rc': True, 'augment_shift': 2, 'trunk': [
                {'name': 'conv_dna', 'filters': filters, 'kernel_size': 9, 'pool_size': 4},
                {'name': 'conv_block', 'filters': filters, 'kernel_size': 3, 'pool_size': 4}], **heads}}

def toy_dir(path, T, n=16, L=256, seed=0, **kw):
    "Targets: GC count per 16 bp bin, scaled per track (learnable); strand pairs swap neighbouring tracks."
    def gc(X, rng):
        gc = X[..., 1:3].sum(-1).reshape(len(X), L//16, 16).sum(-1, keepdims=True)
        return gc*np.linspace(0.5, 1.5, T)[None, None]
    d = tiny_tfrecords(path, {'train': n, 'valid': 8}, L, gc, seed=seed, pool_width=16, **kw)
    tt = (d/'targets.txt').read_text().splitlines()
    pair = [i + 1 if i % 2 == 0 and i + 1 < T else (i - 1 if i % 2 else i) for i in range(T)]
    (d/'targets.txt').write_text('\n'.join([tt[0] + '\tstrand_pair'] + [l + f'\t{pair[i]}' for i,
                                                                        l in enumerate(tt[1:])]) + '\n')
    return d

@pytest.fixture(scope='module')
def two_dirs(tmp_path_factory):
    t = tmp_path_factory.mktemp('genomes')
    return toy_dir(t/'human', 74, seed=1), toy_dir(t/'mouse', 32, seed=2)


def test_joint_two_head_training_checkpoints_and_resume(tmp_path, two_dirs):
    p = tmp_path/'params.json'; p.write_text(json.dumps(toy_params()))
    keras.utils.set_random_seed(0)
    init = SeqNN(p); init.save(tmp_path/'init.weights.h5')
    r = train_model(p, list(two_dirs), tmp_path/'out', restore=tmp_path/'init.weights.h5', epochs=3, seed=0, verbose=0)
    h, s = r.history, r.seqnn
    for n in ('human', 'mouse'):
        loss = h[f'{n}_train_loss'].to_numpy()
        assert np.isfinite(loss).all() and loss[-1] < loss[0], (n, loss)
        assert np.isfinite(h[f'{n}_valid_loss']).all()
    changed = lambda layers: all(not np.array_equal(a.numpy(), b.numpy()) for a, b in layers)
    assert changed(zip(init.model_trunk.weights, s.model_trunk.weights))                       # the trunk moved
    for i in (0, 1):                                                                             # and both heads
        assert changed(zip(init.models[i].layers[-1].weights, s.models[i].layers[-1].weights)), i
    out = r.out_dir
    assert {'model0_best.h5', 'model0_check.h5', 'model1_best.h5', 'model1_check.h5', 'history.csv', 'history.json',
            'learning_curve.png', 'params.json'} <= {f.name for f in out.iterdir()}
    X = random_1hot(3, 256, seed=9)
    for i in (0, 1):  # their layout: a fresh model reads the trunk and head i and predicts identically
        fresh = SeqNN(p).restore(out/f'model{i}_check.h5', head=i)
        np.testing.assert_array_equal(fresh.predict(X, head=i), s.predict(X, head=i))
    # resume: continues at the stored epoch with the optimizer's state
    iters = int(Trainer(SeqNN(p), head_data(SeqNN(p), list(two_dirs))).load_state(out).optimizer.iterations.numpy())
    assert iters == 3*(4 + 4)
    r2 = train_model(p, list(two_dirs), out, epochs=4, resume=True, seed=0, verbose=0)
    assert r2.history.epoch.tolist() == [0, 1, 2, 3]
    assert r2.history.iloc[:3].drop(columns='time_s').equals(h.drop(columns='time_s'))


def test_bad_input_names_the_file(tmp_path, two_dirs, capsys):
    p = tmp_path/'params.json'; p.write_text(json.dumps(toy_params()))
    with pytest.raises(DataError, match=r"mouse/statistics.json: num_targets 32 does not match head 0 \(head_human\)"):
        train_model(p, [two_dirs[1]], tmp_path/'o1', verbose=0)
    p2 = tmp_path/'p512.json'; p2.write_text(json.dumps(toy_params(L=512)))
    with pytest.raises(DataError, match=r"human/statistics.json: seq_length 256 does not match"):
        train_model(p2, [two_dirs[0]], tmp_path/'o2', verbose=0)
    # a missing split
    d = toy_dir(tmp_path/'novalid', 74, seed=3)
    for f in d.rglob('valid*'): f.unlink()
    with pytest.raises(FileNotFoundError, match=r"no TFRecord files for split 'valid' in .*novalid"):
        train_model(p, [d], tmp_path/'o3', verbose=0)
    # a non-empty output folder is refused, the user's file kept; --force writes beside it
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'notes.txt').write_text('keep')
    assert main(['train', str(p), str(two_dirs[0]), '-o', str(tmp_path/'mine'), '--epochs', '1', '-q']) == 2
    assert 'is not empty (use --force' in capsys.readouterr().err
    # a truncated TFRecord: the first record reads, a later one does not
    d = toy_dir(tmp_path/'trunc', 74, n=40, seed=4, seqs_per_tfr=20)
    f = sorted((d/'tfrecords').glob('train-*'))[1]
    f.write_bytes(f.read_bytes()[:len(f.read_bytes())*2//3])
    rc = main(['train', str(p), str(d), '-o', str(tmp_path/'mine'), '--force', '--epochs', '1', '-q'])
    err = capsys.readouterr().err
    assert rc == 2 and f'{f}: damaged TFRecord file' in err, err
    assert (tmp_path/'mine'/'notes.txt').read_text() == 'keep'


def test_cli_train_epoch_line_and_outputs(tmp_path, two_dirs, capsys):
    p = tmp_path/'params.json'; p.write_text(json.dumps(toy_params(T=(74,))))
    assert main(['train', str(p), str(two_dirs[0]), '-o', str(tmp_path/'o'), '--epochs', '2', '--seed', '1', '-q']) == 0
    out = capsys.readouterr().out
    assert out.count('Epoch ') == 2 and 'human: train_loss' in out and 'valid_r ' in out, out
    assert {'model_best.h5', 'model_check.h5', 'history.csv',
            'learning_curve.png'} <= {f.name for f in (tmp_path/'o').iterdir()}


MIRRORED = textwrap.dedent('''
    import json, sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()]*2)
    import keras
    from genomenn.model import SeqNN
    from genomenn.train import Trainer, head_data
    params, data = json.loads(sys.argv[1]), sys.argv[2]
    keras.utils.set_random_seed(0); ref = SeqNN(params); w0 = ref._all.get_weights()
    def one_step(strategy):
        with (strategy or tf.distribute.get_strategy()).scope():
            s = SeqNN(params); s._all.set_weights(w0)
            t = Trainer(s, head_data(s, [data]), augment=False, strategy=strategy, seed=0)
        it = iter(t.batches[0]); t._steps[0](*next(it))
        return [np.asarray(w) for w in s._all.get_weights()], float(t.metrics[0]['train_loss'].result())
    one, l1 = one_step(None)
    two, l2 = one_step(tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))
    print(json.dumps({'replicas': 2, 'max_diff': max(float(np.abs(a - b).max()) for a, b in zip(one, two)),
                      'moved': max(float(np.abs(a - b).max()) for a, b in zip(one, w0)), 'loss': [l1, l2]}))
''')

def test_mirrored_strategy_step_equals_one_device(tmp_path, two_dirs):
    "Two logical CPU devices: one deterministic step (no batch norm, dropout or augmentation) equals one device's."
    params = toy_params(T=(74,), global_clipnorm=0.05, learning_rate=0.01, shuffle_buffer=1, warmup_steps=0)
    (tmp_path/'s.py').write_text(MIRRORED)
    r = run([sys.executable, tmp_path/'s.py', json.dumps(params), two_dirs[0]], timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res['moved'] > 1e-4 and res['max_diff'] < 1e-6, res
    assert abs(res['loss'][0] - res['loss'][1]) < 1e-5, res


def test_mixed_precision_trains(tmp_path, two_dirs):
    p = tmp_path/'params.json'; p.write_text(json.dumps(toy_params(T=(74,), loss='poisson')))
    r = train_model(p, [two_dirs[0]], tmp_path/'o', mixed_precision=True, epochs=1, steps_per_epoch=2, seed=0,
                    verbose=0)
    assert r.seqnn.model.output.dtype == 'float16' and all(w.dtype == 'float32' for w in r.seqnn._all.weights)
    assert np.isfinite(r.history['human_train_loss']).all()
    assert keras.config.dtype_policy().name == 'float32'     # the global policy is restored
    SeqNN(p).restore(r.out_dir/'model_check.h5')   # a float32 model reads the checkpoint


def test_outputs_get_the_umask_mode(tmp_path, two_dirs, umask027):
    "Checkpoints, training state, history and learning curve: the umask's permissions, no temporary file left."
    p = tmp_path/'params.json'; p.write_text(json.dumps(toy_params(T=(74,), loss='poisson')))
    out = train_model(p, [two_dirs[0]], tmp_path/'o', epochs=1, steps_per_epoch=1, valid_steps=1, seed=0,
                      verbose=0).out_dir
    modes = file_modes(out)
    assert {'model_best.h5', 'model_check.h5', 'params.json', 'history.csv', 'history.json', 'learning_curve.png',
            'train_state/optimizer.npz', 'train_state/state.json', 'train_state/model.weights.h5'} <= set(modes)
    assert modes == {k: 0o750 if (out/k).is_dir() else 0o640 for k in modes}
    assert not [k for k in modes if k.rsplit('/', 1)[-1].startswith('.')]


def test_eval_params_one_short_epoch_on_tiny_hg38(tmp_path):
    "Borzoi-lite (baskerville's eval params: poisson_mn, warm-up, clipping, rc/shift) for one short epoch on real data."
    params = shared_path('params', 'baskerville__tests__data__eval__params.json')
    data = shared_path('tfrecords', 'baskerville_tiny_hg38')
    r = train_model(params, [data], tmp_path/'o', epochs=1, steps_per_epoch=1, valid_steps=1, seed=0, verbose=0)
    row = r.history.iloc[0]
    assert np.isfinite([row.human_train_loss, row.human_valid_loss, row.human_valid_r]).all(), row
    assert {'model_best.h5', 'model_check.h5'} <= {f.name for f in r.out_dir.iterdir()}
