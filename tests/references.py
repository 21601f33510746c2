"""Float64 numpy references written from the definitions, shared by the block tests."""
import numpy as np


def conv_same(x, w, b=None, dilation=1):
    "1-D 'same' convolution (cross-correlation, TF's padding split) of x (S, L, C) with w (K, C, F), float64."
    K = w.shape[0]; span = (K - 1)*dilation
    left = span//2
    xp = np.pad(x, ((0, 0), (left, span - left), (0, 0)))
    out = sum(np.einsum('slc,cf->slf', xp[:, k*dilation:k*dilation + x.shape[1]], w[k]) for k in range(K))
    return out if b is None else out + b


def sepconv_same(x, depthwise, pointwise, bias):
    "'same' separable convolution: depthwise (K, C, 1) per channel, then pointwise (1, C, F), plus bias."
    K = depthwise.shape[0]; left = (K - 1)//2
    xp = np.pad(x, ((0, 0), (left, K - 1 - left), (0, 0)))
    d = sum(xp[:, k:k + x.shape[1]]*depthwise[k, :, 0] for k in range(K))
    return d @ pointwise[0] + bias


def layer_norm(x, g, b, eps=1e-3):
    "Layer normalisation over the last axis (Keras' default epsilon 1e-3)."
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu)/np.sqrt(var + eps)*g + b


def gelu_tanh(x):
    "GELU's tanh approximation, as basenji (since 2022) and baskerville compute it (Keras gelu, approximate=True)."
    return 0.5*x*(1 + np.tanh(np.sqrt(2/np.pi)*(x + 0.044715*x**3)))
