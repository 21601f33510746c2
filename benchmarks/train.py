"""Benchmark of genomenn.train: the trainer's epoch time against a plain `keras.Model.fit` loop on the same model.

    python benchmarks/train.py [--epochs 3]

Borzoi-lite (baskerville's tests/data/eval/params.json: 131,072 bp, poisson_mn, Adam with warm-up and global clipping),
its human head alone, on ../shared/data/tfrecords/baskerville_tiny_hg38 (9 training sequences here: 2 full batches of 4
per epoch, as baskerville counts them; 2 validation sequences). Both sides start from the same weights, read the same
TFRecords with the same shuffle buffer, take the same 2 training batches per epoch and evaluate the validation split
after each epoch; the trainer also applies the params' rc/shift augmentation. The first epoch (tracing) is reported
apart; the others give seconds per epoch and training sequences per second.
"""
import argparse
import json
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genomenn.losses import make_loss
from genomenn.model import SeqNN, make_optimizer
from genomenn.train import Trainer, head_data

SHARED = Path(os.environ.get('GENOMENN_SHARED', Path(__file__).resolve().parents[2]/'shared'))/'data'
PARAMS = SHARED/'params'/'baskerville__tests__data__eval__params.json'
DATA = SHARED/'tfrecords'/'baskerville_tiny_hg38'

def trainer_epochs(w0, n):
    s = SeqNN(PARAMS); s.models[0].set_weights(w0)
    t = Trainer(s, head_data(s, [DATA], seed=0), seed=0)
    times = []
    for e in range(n):
        t0 = time.time(); t.fit(e + 1, verbose=0); times.append(time.time() - t0)
    return times, t.data[0].steps*t.data[0].train.batch_size

def keras_fit_epochs(w0, n):
    s = SeqNN(PARAMS); m = s.models[0]; m.set_weights(w0)
    d = head_data(s, [DATA], seed=0)[0]
    tr = d.train.dataset.unbatch().repeat().batch(d.train.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    m.compile(optimizer=make_optimizer(s.train_params), loss=make_loss(s.train_params['loss'], s.train_params))
    class T(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None): self.t0 = time.time()
        def on_epoch_end(self, e, logs=None): times.append(time.time() - self.t0)
    times = []
    m.fit(tr, epochs=n, steps_per_epoch=d.steps, validation_data=d.valid.dataset, callbacks=[T()], verbose=0)
    return times

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--epochs', type=int, default=3); a = ap.parse_args()
    keras.utils.set_random_seed(0); w0 = SeqNN(PARAMS).models[0].get_weights()
    kt = keras_fit_epochs(w0, a.epochs)
    tt, nseq = trainer_epochs(w0, a.epochs)
    res = {'load': os.getloadavg()[0], 'train_seqs_per_epoch': nseq,
           'keras_fit_s': [round(x, 2) for x in kt], 'trainer_s': [round(x, 2) for x in tt]}
    k, t = np.mean(kt[1:]), np.mean(tt[1:])
    res.update(keras_fit_epoch_s=round(k, 2), trainer_epoch_s=round(t, 2), ratio=round(t/k, 3),
               trainer_seqs_per_s=round(nseq/t, 3), keras_fit_seqs_per_s=round(nseq/k, 3))
    print(json.dumps(res, indent=1))
