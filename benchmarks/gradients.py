"""Benchmark of genomenn.gradients against baselines measured in the same run.

    python benchmarks/gradients.py                       # all sections
    python benchmarks/gradients.py --sections core       # core | formulations | memory | tangermeme
    python benchmarks/gradients.py --tangermeme-python /path/to/venv/bin/python

Sections
* core: a Basenji-like model (2,048 bp, 3 pooling conv blocks, 4 dilated residual blocks, 16 targets, batch 8).
  The cost of one (sequence x target x member) input gradient in forward passes of the same batch, and the speed-up
  over a Basenji-style baseline (eager Python loop, one GradientTape per target and per member), with rc + 3 shifts.
* formulations: ways to get all targets' input gradients in one graph, in forward passes per target-gradient.
* memory: peak resident memory of 1,000 targets with `target_chunk=50` versus all targets in one call (each run in a
  fresh process, results streamed to HDF5).
* tangermeme: the same architecture in Keras and PyTorch (Conv1D 64 w15 gelu, max-pool 4, Conv1D 64 w5 gelu,
  max-pool 4, Dense 16 softplus, predictions summed over positions; identical weights), 64 random 1,024 bp sequences:
  `ism` versus tangermeme's `saturation_mutagenesis` (fast=False and fast=True), and all 16 per-target input-gradient
  maps versus tangermeme's `saliency` called once per target, both as a user calls it (the model as trained, only
  `target=k` and the batch size given: tangermeme's defaults return the corrected gradient x input) and tuned (frozen
  parameters, hypothetical=True, gradient_correction=False), batch 32 on both sides. tangermeme runs in its own
  environment (`pip install torch==2.13.0 tangermeme`), given by --tangermeme-python or $TANGERMEME_PYTHON.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras
import numpy as np
import tensorflow as tf
from keras import layers as kl

from genomenn.data import hot1_augment
from genomenn.gradients import gradients
from genomenn.ism import ism

from timing import best


def basenji_like(L=2048, T=16, seed=0):
    "conv tower (pools 2, 4, 4) + 4 dilated residual blocks + dense head; (B, 2048, 4) -> (B, 64, T)."
    keras.utils.set_random_seed(seed)
    x = kl.Input((L, 4)); h = x
    for f, w, p in [(64, 15, 2), (64, 5, 4), (64, 5, 4)]:
        h = kl.Conv1D(f, w, padding='same', use_bias=False)(h)
        h = kl.Activation('gelu')(kl.BatchNormalization()(h))
        h = kl.MaxPooling1D(p)(h)
    for d in (2, 4, 8, 16):
        r = kl.Conv1D(32, 3, dilation_rate=d, padding='same', activation='gelu')(h)
        r = kl.Conv1D(64, 1)(kl.Dropout(0.1)(r))
        h = kl.Add()([h, r])
    return keras.Model(x, kl.Dense(T, activation='softplus')(h))


def rand_1hot(S, L, seed=0):
    return np.eye(4, dtype='float32')[np.random.default_rng(seed).integers(0, 4, (S, L))]


def basenji_style(model, X, targets, rc=False, shifts=(0,)):
    "Baseline as Basenji computes it: eager, one tape per target and per member, summed over positions."
    out = np.zeros((len(X), len(targets)) + X.shape[1:], np.float32)
    members = [(s, r) for s in shifts for r in ((False, True) if rc else (False,))]
    for s, r in members:
        xa = tf.constant(hot1_augment(X, fwdrc=not r, shift=s))
        for j, t in enumerate(targets):
            with tf.GradientTape() as tape:
                tape.watch(xa)
                y = model(xa, training=False)
                obj = tf.reduce_sum(y[:, :, t])
            g = tape.gradient(obj, xa).numpy()
            out[:, j] += g[:, ::-1] if r else g     # Basenji's mapping (positions only); the cost is what counts here
    return out / len(members)


def section_core(res, reps):
    "Cost with and without an ensemble, measured interleaved with the forward pass (the same load for all three)."
    m, X, T = basenji_like(), rand_1hot(8, 2048), 16
    fwd = tf.function(lambda x: m(x, training=False))
    xt = tf.constant(X); fwd(xt)
    cases = (('plain', {}, 1), ('rc + 3 shifts', dict(rc=True, shifts=(-1, 0, 1)), 6))
    first = {}
    for name, kw, _ in cases:
        t0 = time.perf_counter(); gradients(m, X, batch_size=8, verbose=False, **kw)
        first[name] = time.perf_counter() - t0
    t_f, t_g = [], {name: [] for name, _, _ in cases}
    for _ in range(3 * reps):
        t = time.perf_counter()
        for _ in range(10): fwd(xt).numpy()
        t_f.append((time.perf_counter() - t) / 10)
        for name, kw, _ in cases:
            t = time.perf_counter(); gradients(m, X, batch_size=8, verbose=False, **kw)
            t_g[name].append(time.perf_counter() - t)
    t_fwd = min(t_f)
    print(f"forward pass, batch 8 x 2048 bp: {t_fwd*1e3:.1f} ms (best of {3 * reps} x 10, interleaved with "
          "the runs below)")
    rows = []
    for name, kw, M in cases:
        t_gn = min(t_g[name])
        basenji_style(m, X[:1], [0], **kw)
        t_bl = best(lambda: basenji_style(m, X, range(T), **kw), max(1, reps - 1))
        cost_gn, cost_bl = t_gn / (T * M) / t_fwd, t_bl / (T * M) / t_fwd
        rows.append(dict(ensemble=name, members=M, genomenn_s=t_gn, genomenn_first_call_s=first[name], baseline_s=t_bl,
                         genomenn_fwd_per_grad=cost_gn, baseline_fwd_per_grad=cost_bl, speedup=t_bl / t_gn))
        print(f"{name:14s} M={M}: genomenn {t_gn:.2f} s ({cost_gn:.2f} forward passes per sequence x target x member "
              f"gradient; first call incl. tracing {first[name]:.1f} s) | Basenji-style {t_bl:.2f} s ({cost_bl:.2f}) | "
              f"speed-up {t_bl/t_gn:.1f}x")
    res['core'] = dict(forward_ms=t_fwd * 1e3, rows=rows)


def section_formulations(res, reps):
    "All 16 targets' input gradients of a batch of 8 in one graph, five ways."
    m, T = basenji_like(), 16
    xt = tf.constant(rand_1hot(8, 2048))
    fwd = tf.function(lambda x: m(x, training=False)); fwd(xt)
    t_fwd = best(lambda: fwd(xt).numpy(), 20)
    def persistent(x):
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tp:
            tp.watch(x); y = m(x, training=False)
        return tf.stack([tp.gradient(y, x, output_gradients=tf.one_hot(t, T) * tf.ones_like(y)) for t in range(T)], 1)
    def rerun(x):
        gs = []
        for t in range(T):
            with tf.GradientTape(watch_accessed_variables=False) as tp:
                tp.watch(x); obj = tf.reduce_sum(m(x, training=False)[:, :, t])
            gs.append(tp.gradient(obj, x))
        return tf.stack(gs, 1)
    def while_loop(x):
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tp:
            tp.watch(x); y = m(x, training=False)
        ta = tf.TensorArray(x.dtype, size=T)
        ta = tf.while_loop(lambda t, ta: t < T, lambda t, ta: (t + 1, ta.write(t, tp.gradient(
            y, x, output_gradients=tf.one_hot(t, T) * tf.ones_like(y)))), (0, ta))[1]
        return tf.transpose(ta.stack(), [1, 0, 2, 3])
    def bjac(x):
        with tf.GradientTape(watch_accessed_variables=False) as tp:
            tp.watch(x); y = tf.reduce_sum(m(x, training=False), 1)
        return tp.batch_jacobian(y, x)
    def vmap(x):
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tp:
            tp.watch(x); y = m(x, training=False)
        return tf.transpose(tf.vectorized_map(lambda o: tp.gradient(y, x, output_gradients=o * tf.ones_like(y)),
                                              tf.eye(T)), [1, 0, 2, 3])
    out, ref = {}, None
    for name, f in (('one forward on a persistent tape + 16 unrolled backward passes (genomenn)', persistent),
                    ('16 forward+backward passes, unrolled', rerun),
                    ('persistent tape + tf.while_loop over targets', while_loop),
                    ('batch_jacobian', bjac), ('vectorized_map over output gradients', vmap)):
        g = tf.function(f); r = g(xt).numpy()
        ref = r if ref is None else ref
        assert np.allclose(r, ref, atol=1e-5), name
        t = best(lambda: g(xt).numpy(), reps)
        out[name] = t / T / t_fwd
        print(f"{name:75s} {t/T/t_fwd:.2f} forward passes per target-gradient")
    res['formulations'] = out


def _memory_run(chunk):
    code = textwrap.dedent(f"""
        import os, sys, time, resource, json, tempfile
        os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        import numpy as np, tensorflow as tf
        from gradients import basenji_like, rand_1hot
        from genomenn.gradients import gradients
        m = basenji_like(T=1000); X = rand_1hot(8, 2048)
        m(X[:1])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        d = tempfile.mkdtemp()
        t = time.perf_counter()
        g = gradients(m, X, target_chunk={chunk!r}, out=os.path.join(d, 'g.h5'), verbose=False)
        t = time.perf_counter() - t
        g.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(dict(before_mb=before, peak_mb=peak, seconds=t)))
    """)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def section_memory(res, reps):
    out = {}
    for chunk in (50, None):
        r = _memory_run(chunk); out[str(chunk)] = r
        print(f"1000 targets, 8 x 2048 bp, target_chunk={chunk}: peak RSS {r['peak_mb']:.0f} MB "
              f"(+{r['peak_mb'] - r['before_mb']:.0f} MB over the loaded model), {r['seconds']:.1f} s")
    res['memory'] = out


TORCH_SCRIPT = r"""
import sys, time, json, warnings, numpy as np, torch
from torch import nn
import torch.nn.functional as F
from tangermeme.saturation_mutagenesis import saturation_mutagenesis
from tangermeme.saliency import saliency
torch.manual_seed(0); torch.set_num_threads(2)
d = sys.argv[1]
w = np.load(d + '/weights.npz'); X = np.load(d + '/X.npy')
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1, s.c2, s.d = nn.Conv1d(4, 64, 15, padding=7), nn.Conv1d(64, 64, 5, padding=2), nn.Linear(64, 16)
    def forward(s, x):                                   # (N, 4, L) -> (N, 16), summed over positions
        h = F.max_pool1d(F.gelu(s.c1(x)), 4)
        h = F.max_pool1d(F.gelu(s.c2(h)), 4)
        return F.softplus(s.d(h.transpose(1, 2))).sum(1)
net = Net().eval()
for q in net.parameters(): q.requires_grad_(False)   # input gradients only, as saliency needs
with torch.no_grad():
    net.c1.weight.copy_(torch.tensor(w['k1']).permute(2, 1, 0)); net.c1.bias.copy_(torch.tensor(w['b1']))
    net.c2.weight.copy_(torch.tensor(w['k2']).permute(2, 1, 0)); net.c2.bias.copy_(torch.tensor(w['b2']))
    net.d.weight.copy_(torch.tensor(w['k3']).T); net.d.bias.copy_(torch.tensor(w['b3']))
Xt = torch.tensor(X).permute(0, 2, 1).contiguous()
out = {}
xb = Xt[:32]
def best(f, n=20):
    for _ in range(3): f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts)
with torch.inference_mode(): out['forward_batch32_s'] = best(lambda: net(xb))
def fwd_bwd():
    x = xb.clone().requires_grad_(True); net(x)[:, 0].sum().backward()
out['forward_backward_batch32_s'] = best(fwd_bwd)
for fast in (False, True):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        t = time.perf_counter()
        y0, yh = saturation_mutagenesis(net, Xt, raw_outputs=True, fast=fast, batch_size=int(sys.argv[2]))
        out[f'ism_fast_{fast}_s'] = time.perf_counter() - t
    out[f'ism_fast_{fast}_warnings'] = [str(x.message)[:300] for x in ws]
    np.save(d + f'/tm_ism_{fast}.npy', (yh - y0[:, None, None]).numpy() if yh.ndim == 4 else yh.numpy())
    out['ism_shapes'] = [list(y0.shape), list(yh.shape)]
# 16 per-target saliency maps, two ways (same batch size as genomenn's side):
# * as a user calls it: the model as trained (parameters require grad), only `target=k` and `batch_size` given,
#   so tangermeme's defaults apply (hypothetical=False, gradient_correction=True: corrected gradient x input);
# * tuned: parameters frozen, hypothetical=True, gradient_correction=False (the raw input gradient, genomenn's output).
net_user = Net().eval()
net_user.load_state_dict(net.state_dict())
assert all(q.requires_grad for q in net_user.parameters())
bs, reps = int(sys.argv[2]), int(sys.argv[3])
runs = {'user': lambda: [saliency(net_user, Xt, target=k, batch_size=bs) for k in range(16)],
        'tuned': lambda: [saliency(net, Xt, target=k, batch_size=bs, hypothetical=True, gradient_correction=False)
                          for k in range(16)]}
ts = {k: [] for k in runs}
for k, f in runs.items(): np.save(d + f'/tm_sal_{k}.npy', torch.stack(f(), 1).numpy())   # warm-up, kept for checks
for _ in range(reps):
    for k, f in runs.items():
        t = time.perf_counter(); f(); ts[k].append(time.perf_counter() - t)
for k in runs: out[f'saliency_16_{k}_s'] = min(ts[k])
print(json.dumps(out))
"""


def section_tangermeme(res, reps, python, ism_batch=None):
    if not python or not os.path.exists(python):
        print(f"tangermeme: no interpreter ({python!r}); set --tangermeme-python or $TANGERMEME_PYTHON"); return
    keras.utils.set_random_seed(1)
    x = kl.Input((1024, 4))
    h = kl.MaxPooling1D(4)(kl.Conv1D(64, 15, padding='same', activation='gelu')(x))
    h = kl.MaxPooling1D(4)(kl.Conv1D(64, 5, padding='same', activation='gelu')(h))
    m = keras.Model(x, kl.Dense(16, activation='softplus')(h))          # (B, 64, 16): the objective sums positions
    X = rand_1hot(64, 1024, seed=2)
    d = tempfile.mkdtemp()
    k1, b1, k2, b2, k3, b3 = m.get_weights()
    np.savez(f'{d}/weights.npz', k1=k1, b1=b1, k2=k2, b2=b2, k3=k3, b3=b3); np.save(f'{d}/X.npy', X)
    fwd = tf.function(lambda x: m(x, training=False)); xb = tf.constant(X[:32]); fwd(xb)
    t_fwd = best(lambda: fwd(xb).numpy(), 20)
    @tf.function
    def fwd_bwd(x):                                                       # forward + one input-only backward pass
        with tf.GradientTape(watch_accessed_variables=False) as tp:
            tp.watch(x); obj = tf.reduce_sum(m(x, training=False)[..., 0])
        return tp.gradient(obj, x)
    fwd_bwd(xb); t_fb = best(lambda: fwd_bwd(xb).numpy(), 20)
    t = time.perf_counter(); sat = ism(m, X, batch_size=ism_batch, verbose=False); t_ism_first = time.perf_counter() - t
    t_ism = best(lambda: ism(m, X, batch_size=ism_batch, verbose=False), reps)
    t_ism_full = best(lambda: ism(m, X, batch_size=ism_batch, fast=False, verbose=False), 1)
    def user_maps():   # what tangermeme's default returns: (g - mean over bases) * x, here from genomenn's gradients
        G = gradients(m, X, batch_size=32, verbose=False).grads[0]
        return (G - G.mean(-1, keepdims=True)) * X[:, None]
    t = time.perf_counter(); g = gradients(m, X, batch_size=32, verbose=False); t_gr_first = time.perf_counter() - t
    ts_gr, ts_user = [], []
    for _ in range(reps):
        t = time.perf_counter(); gradients(m, X, batch_size=32, verbose=False); ts_gr.append(time.perf_counter() - t)
        t = time.perf_counter(); user = user_maps(); ts_user.append(time.perf_counter() - t)
    t_gr, t_user = min(ts_gr), min(ts_user)
    r = subprocess.run([python, '-c', TORCH_SCRIPT, d, '32', str(reps)], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(r.stderr[-3000:])
    tm = json.loads(r.stdout.strip().splitlines()[-1])
    # same numbers? ISM deltas and gradients against tangermeme's
    tm_ism = np.load(f'{d}/tm_ism_True.npy')                              # (N, 4, L, T) deltas incl. reference (0)
    ours = np.moveaxis(np.nan_to_num(sat), 1, -1).transpose(0, 2, 1, 3)   # (N, 4, L, T)
    ism_diff = np.abs(tm_ism - ours).max() / np.abs(ours).max()
    sal = np.load(f'{d}/tm_sal_tuned.npy')                                 # (N, 16, 4, L)
    grad_diff = np.abs(sal - g.grads[0].transpose(0, 1, 3, 2)).max() / np.abs(g.grads[0]).max()
    sal_u = np.load(f'{d}/tm_sal_user.npy')
    user_diff = np.abs(sal_u - user.transpose(0, 1, 3, 2)).max() / np.abs(user).max()
    n_grad = 64 * 16
    tm_fwd = tm['forward_batch32_s']
    # what a 5x speed-up over saliency as a user calls it would need from genomenn, in Keras forward passes
    need_5x = tm['saliency_16_user_s'] / 5 / (64 * 16 / 32) / t_fwd
    out = dict(forward_batch32_ms=t_fwd * 1e3, forward_backward_batch32_ms=t_fb * 1e3, need_for_5x_fwd_per_grad=need_5x,
               torch_forward_batch32_ms=tm_fwd * 1e3,
               torch_forward_backward_batch32_ms=tm['forward_backward_batch32_s'] * 1e3,
               genomenn_ism_s=t_ism, genomenn_ism_first_call_s=t_ism_first, genomenn_ism_full_length_s=t_ism_full,
               tangermeme_ism_fast_false_s=tm['ism_fast_False_s'], tangermeme_ism_fast_true_s=tm['ism_fast_True_s'],
               tangermeme_warnings=tm['ism_fast_True_warnings'] + tm['ism_fast_False_warnings'],
               genomenn_grads_s=t_gr, genomenn_grads_first_call_s=t_gr_first, genomenn_user_maps_s=t_user,
               tangermeme_saliency_user_s=tm['saliency_16_user_s'],
               tangermeme_saliency_tuned_s=tm['saliency_16_tuned_s'],
               genomenn_fwd_per_grad=t_gr / (n_grad / 32) / t_fwd,
               tangermeme_user_fwd_per_grad=tm['saliency_16_user_s'] / (n_grad / 32) / tm_fwd,
               tangermeme_tuned_fwd_per_grad=tm['saliency_16_tuned_s'] / (n_grad / 32) / tm_fwd,
               tangermeme_user_keras_fwd_per_grad=tm['saliency_16_user_s'] / (n_grad / 32) / t_fwd,
               speedup_user=tm['saliency_16_user_s'] / t_user, speedup_tuned=tm['saliency_16_tuned_s'] / t_gr,
               ism_rel_max_diff=float(ism_diff), grad_rel_max_diff=float(grad_diff), user_rel_max_diff=float(user_diff))
    res['tangermeme'] = out
    print(f"forward of 32 x 1024 bp: Keras {t_fwd*1e3:.1f} ms, PyTorch {tm_fwd*1e3:.1f} ms; forward + one input "
          f"backward: Keras {t_fb*1e3:.1f} ms (backward {(t_fb - t_fwd) / t_fwd:.2f} forward passes), PyTorch "
          f"{tm['forward_backward_batch32_s']*1e3:.1f} ms ({(tm['forward_backward_batch32_s'] - tm_fwd) / tm_fwd:.2f})")
    print(f"ISM, 64 x 1024 bp x 16 targets: genomenn {t_ism:.2f} s (first call incl. tracing and the window check "
          f"{t_ism_first:.2f} s; full-length mutants {t_ism_full:.1f} s) | tangermeme fast=False "
          f"{tm['ism_fast_False_s']:.1f} s, fast=True {tm['ism_fast_True_s']:.1f} s | genomenn / fast=True "
          f"{tm['ism_fast_True_s']/t_ism:.1f}x faster (first call {tm['ism_fast_True_s']/t_ism_first:.1f}x), "
          f"vs fast=False {tm['ism_fast_False_s']/t_ism:.1f}x; max rel. difference {ism_diff:.1e}")
    print("16 input-gradient maps, 64 x 1024 bp, batch 32 on both sides:")
    print(f"  as a user calls it: tangermeme saliency(model, X, target=k, batch_size=32) x16 "
          f"{tm['saliency_16_user_s']:.2f} s ({out['tangermeme_user_fwd_per_grad']:.2f} PyTorch or "
          f"{out['tangermeme_user_keras_fwd_per_grad']:.2f} Keras forward passes per target-gradient) | genomenn "
          f"gradients + the same corrected gradient x input {t_user:.2f} s | {out['speedup_user']:.1f}x faster; "
          f"max rel. difference {user_diff:.1e}; 5x would need {need_5x:.2f} Keras forward passes per target-gradient")
    print(f"  tuned tangermeme (frozen parameters, hypothetical=True, gradient_correction=False) "
          f"{tm['saliency_16_tuned_s']:.2f} s ({out['tangermeme_tuned_fwd_per_grad']:.2f}) | genomenn "
          f"gradients {t_gr:.2f} s "
          f"(first call {t_gr_first:.2f} s; {out['genomenn_fwd_per_grad']:.2f} Keras forward passes per "
          "target-gradient) | "
          f"{out['speedup_tuned']:.1f}x faster (first call {tm['saliency_16_tuned_s']/t_gr_first:.1f}x); "
          f"max rel. difference {grad_diff:.1e}")
    if out['tangermeme_warnings']: print('tangermeme warnings:', out['tangermeme_warnings'])


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sections', default='core,formulations,memory,tangermeme')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--tangermeme-python', default=os.environ.get('TANGERMEME_PYTHON', '/tmp/tm-venv/bin/python'))
    ap.add_argument('--json', default=None, help='write the figures here')
    a = ap.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    res = {}
    for s in a.sections.split(','):
        print(f"\n== {s}")
        if s == 'tangermeme': section_tangermeme(res, a.reps, a.tangermeme_python)
        else: globals()[f'section_{s}'](res, a.reps)
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)
