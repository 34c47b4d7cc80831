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


def lockstep_with_pytorch(framework, spec, train_x, critic_steps):
    """Train PyTorch and `framework` side by side from the same float64 weights and inputs, asserting every
    critic and generator loss agrees to 1e-10 at every step; returns (pytorch's WGAN, framework's WGAN)."""
    import pytest

    from shared.core.params import init_params
    from shared.core.protocol import build
    from shared.core.streams import Streams
    ref, ours = build("pytorch", spec, init_params(spec)), build(framework, spec, init_params(spec), threads=1)
    streams = Streams(train_x.astype(np.float64), spec)
    for t in range(critic_steps):
        a, b = ref.critic_step(*streams.critic_inputs(t)), ours.critic_step(*streams.critic_inputs(t))
        for key in ("critic_loss", "wasserstein", "gradient_penalty", "d_fake_mean"):
            assert b[key] == pytest.approx(a[key], rel=1e-10, abs=1e-13), (t, key)
        if (t + 1) % spec.n_critic == 0:
            g_ref, g_ours = ref.generator_step(streams.generator_z(t)), ours.generator_step(streams.generator_z(t))
            assert g_ours["generator_loss"] == pytest.approx(g_ref["generator_loss"], rel=1e-10)
    diff, name = max_diff(ours.get_params(), ref.get_params())
    assert diff < 1e-10, name
    return ref, ours
