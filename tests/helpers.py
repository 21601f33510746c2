"""Small test inputs shared by the test modules: seeded one-hot sequences and normal arrays, float64 symbolic inputs,
randomised weights, tiny SeqNN files and tiny TFRecord directories. (Float64 numpy references live in references.py,
fixtures and the shared-data / subprocess helpers in conftest.py.) Keras and TensorFlow are imported on first use,
so numpy-only test modules stay light."""
import json
import re
import stat
from pathlib import Path

import numpy as np

F64 = 'float64'


def random_1hot(S:int, L:int, seed:int=0, dtype='float32', rng:np.random.Generator|None=None)->np.ndarray:
    "S uniformly random one-hot sequences (S, L, 4): `np.random.default_rng(seed)`, or draws from `rng` when given."
    rng = np.random.default_rng(seed) if rng is None else rng
    return np.eye(4, dtype=dtype)[rng.integers(0, 4, (S, L))]


def rand(*shape, seed:int=0, scale:float=1.)->np.ndarray:
    "Standard normal float64 values of `shape` from `np.random.default_rng(seed)`, times `scale`."
    return np.random.default_rng(seed).normal(size=shape)*scale


def sym(L:int, C:int, dtype=F64):
    "A symbolic Keras input (None, L, C), float64 unless told."
    import keras
    return keras.Input((L, C), dtype=dtype)


def randomise_weights(weights, seed:int=1, sd:float=0.5, positive:str='variance'):
    """Give each variable in `weights` a random value, so no initialiser hides a mistake: uniform in [0.5, 1.5) where
    its path matches the regex `positive` (batch-norm variances), else normal(0, sd); one generator, in order."""
    rng = np.random.default_rng(seed)
    for w in weights:
        shape = tuple(w.shape)
        v = rng.uniform(0.5, 1.5, shape) if re.search(positive, w.path) else rng.normal(0, sd, shape)
        w.assign(v.astype(w.dtype))


def tiny_seqnn(path:Path, L:int, num_targets:int, filters:int, seeds=(0,), name:str='model{seed}.h5')->Path:
    """`path`/params.json holding `synthetic_params(L, num_targets, filters)`, and one SeqNN of it saved per seed (Keras
    seeded first) as `path`/name.format(seed=seed); returns `path`."""
    import keras

    from genomenn.model import SeqNN, synthetic_params
    path = Path(path)
    params = synthetic_params(L, num_targets=num_targets, filters=filters)
    (path/'params.json').write_text(json.dumps(params))
    for seed in seeds:
        keras.utils.set_random_seed(seed); SeqNN(params).save(path/name.format(seed=seed))
    return path


def tiny_tfrecords(path:Path, splits:dict, L:int, targets, seed:int=0, **kw)->Path:
    """A TFRecord directory (`write_tfrecords(path, ..., **kw)`) of random sequences: for each split name -> count, in
    order, `random_1hot(count, L)` then `targets(seqs, rng)` (N, P, T), all drawn from one `default_rng(seed)`."""
    from genomenn.tfrecords import write_tfrecords
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in splits.items():
        seqs = random_1hot(n, L, rng=rng)
        data[split] = (seqs, targets(seqs, rng))
    return write_tfrecords(path, data, **kw)


def file_modes(folder)->dict:
    "Relative path -> permission bits of everything under `folder`, hidden (temporary) files included."
    return {p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in sorted(Path(folder).rglob('*'))}
