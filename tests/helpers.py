"""Helpers shared by the implementation tests (imported as `helpers`; pytest puts tests/ on sys.path)."""

import numpy as np

from shared.core.params import param_shapes
from shared.core.streams import rng


def with_random_batchnorm(spec, params):
    """params with non-trivial gamma, beta and moving statistics, so eval mode is really tested."""
    gen = rng(spec.seed, "misc", 7)
    out = dict(params)
    for name, shape in param_shapes(spec).items():
        if name.endswith((".gamma", ".moving_var")):
            out[name] = gen.uniform(0.5, 2.0, shape).astype(spec.dtype)
        elif name.endswith((".beta", ".moving_mean")):
            out[name] = gen.uniform(-0.5, 0.5, shape).astype(spec.dtype)
    return out


def max_diff(a: dict, b: dict) -> tuple[float, str]:
    """(largest |a - b| over all arrays, the name where it occurs)."""
    return max((float(np.max(np.abs(np.asarray(a[k], np.float64) - b[k]))), k) for k in a)


def numpy_rmsprop(w, v, g, spec):
    """One RMSprop step in NumPy, per spec: (new w, new mean square)."""
    v = spec.rms_decay * v + (1 - spec.rms_decay) * g * g
    denom = np.sqrt(v) + spec.rms_eps if spec.rms_eps_placement == "outside" else np.sqrt(v + spec.rms_eps)
    return w - spec.lr * g / denom, v
