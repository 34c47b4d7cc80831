"""impl_tensorflow: canonical parameters, golden losses, clipping, RMSprop, and agreement with impl_pytorch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import impl_pytorch  # noqa: E402
import impl_tensorflow  # noqa: E402
import impl_tensorflow.wgan as tfw  # noqa: E402
from shared.errors import UserError  # noqa: E402
from shared.params import init_params, param_shapes  # noqa: E402
from shared.spec import TUTORIAL  # noqa: E402
from shared.streams import rng  # noqa: E402
from helpers import numpy_rmsprop, with_random_batchnorm  # noqa: E402

impl_pytorch.set_threads(1)
impl_tensorflow.set_threads(1)

# A small network for the tests that need no real sizes.
SMALL = TUTORIAL.replace(latent_dim=8, data_dim=16, generator_hidden=(16, 32, 32), critic_hidden=(32, 16),
                         batch_size=16, dtype="float64")


# --- canonical parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_params_round_trip_exactly(dtype):
    spec = TUTORIAL.replace(dtype=dtype)
    params = with_random_batchnorm(spec, init_params(spec))
    got = impl_tensorflow.build_wgan(spec, params).get_params()
    assert list(got) == list(param_shapes(spec))
    for name, value in params.items():
        assert got[name].dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_set_params_rejects_wrong_shapes_and_get_params_returns_copies():
    params = init_params(SMALL)
    wgan = impl_tensorflow.build_wgan(SMALL, params)
    wrong = dict(params, **{"critic.dense0.kernel": params["critic.dense0.kernel"].T})
    with pytest.raises(UserError, match="critic.dense0.kernel"):
        wgan.set_params(wrong)
    wgan.get_params()["critic.dense0.bias"][:] = 123.0
    np.testing.assert_array_equal(wgan.get_params()["critic.dense0.bias"], params["critic.dense0.bias"])


def test_optimizer_state_starts_at_spec_value_and_round_trips():
    spec = SMALL.replace(rms_initial_mean_square=0.25)
    wgan = impl_tensorflow.build_wgan(spec, init_params(spec))
    state = wgan.get_optimizer_state()
    assert sorted(state) == sorted(n for n in param_shapes(spec) if not n.endswith(("moving_mean", "moving_var")))
    assert all(np.all(v == 0.25) for v in state.values())
    gen = rng(0, "misc", 1)
    new = {k: gen.uniform(0, 1, v.shape) for k, v in state.items()}
    wgan.set_optimizer_state(new)
    got = wgan.get_optimizer_state()
    for k in new:
        np.testing.assert_array_equal(got[k], new[k], err_msg=k)


def test_set_threads_after_tensorflow_started_does_not_raise():
    tf.constant(1.0) + 1.0  # TensorFlow's runtime is up: its thread pools are fixed now
    impl_tensorflow.set_threads(2)


@pytest.mark.parametrize("module", ["impl_tensorflow", "impl_keras"])
def test_set_threads_sizes_both_thread_pools(module):
    """n intra-op AND n inter-op threads: with one inter-op thread TensorFlow runs a critic step's
    independent passes one after the other, and two threads were slower than one (docs/performance.md)."""
    import subprocess
    import sys
    code = (f"import {module} as m, tensorflow as tf; m.set_threads(2); "
            "print(tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["2", "2"]


def test_unknown_or_missing_device_is_a_user_error():
    with pytest.raises(UserError, match="unknown device"):
        impl_tensorflow.build_wgan(SMALL, device="tpu")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(UserError, match="no GPU"):
            impl_tensorflow.build_wgan(SMALL, device="cuda")


# --- losses, critic, clipping, RMSprop ----------------------------------------------------------------
def test_golden_wasserstein_losses():
    d_real = tf.constant([-5.0, 1.4, 12.5, 2.7], tf.float64)
    d_fake = tf.constant([10.0, 4.4, -5.5, 3.6], tf.float64)
    assert float(tfw.critic_loss(d_real, d_fake)) == pytest.approx(0.225, abs=1e-12)
    assert float(tfw.generator_loss(d_fake)) == pytest.approx(-3.125, abs=1e-12)


def test_critic_output_is_an_unbounded_linear_score():
    """All-ones kernels, zero biases: +5 inputs give 5*16*32*16; -5 inputs go through the slope twice."""
    spec = SMALL.replace(clip_value=10.0)
    params = init_params(spec)
    for name, value in params.items():
        if name.startswith("critic."):
            params[name] = np.ones_like(value) if name.endswith(".kernel") else np.zeros_like(value)
    wgan = impl_tensorflow.build_wgan(spec, params)
    scores = wgan.critic_scores(np.stack([np.full(16, 5.0), np.full(16, -5.0)]))
    # -5*16 = -80 -> -16; -16*32 = -512 -> -102.4; -102.4*16. tf.nn.leaky_relu's float32 slope is 3e-8 off.
    np.testing.assert_allclose(scores, [5.0 * 16 * 32 * 16, 0.2 * 0.2 * -5.0 * 16 * 32 * 16], rtol=1e-13)


def test_clipping_holds_after_every_critic_step_and_spares_batchnorm_statistics():
    spec = SMALL.replace(lr=0.05)  # big steps: every step pushes weights past c before clipping
    c = spec.clip_value
    params = init_params(spec)  # critic weights start at up to 1/sqrt(16) = 0.25 >> c
    for name in params:
        if name.endswith("moving_mean"):
            params[name] = np.full_like(params[name], 0.5)
    wgan = impl_tensorflow.build_wgan(spec, params)
    gen = rng(0, "misc", 2)
    for step in range(6):
        record = wgan.critic_step(gen.uniform(-1, 1, (16, 16)), gen.standard_normal((16, 8)))
        got = wgan.get_params()
        critic = np.concatenate([v.ravel() for k, v in got.items() if k.startswith("critic.")])
        assert np.abs(critic).max() <= c, f"step {step}: critic weight {np.abs(critic).max()} > {c}"
        assert record["max_abs_weight"] == pytest.approx(np.abs(critic).max(), abs=0)
        assert record["clipped_share"] == pytest.approx(np.mean(np.abs(critic) >= c), abs=1e-15)
        assert record["clipped_share"] > 0.25, "the big learning rate should push many weights to the bound"
    moving = np.concatenate([v for k, v in got.items() if k.endswith(("moving_mean", "moving_var"))])
    assert np.abs(moving).max() > 0.1, "BatchNorm moving statistics must not be clipped"
    assert np.abs(got["generator.dense0.kernel"]).max() > 0.1, "generator weights must not be clipped"


@pytest.mark.parametrize("placement", ["outside", "inside"])
def test_rmsprop_matches_the_formula(placement):
    # A big eps, so its placement changes the result by far more than the tolerance.
    spec = TUTORIAL.replace(lr=0.01, rms_decay=0.9, rms_eps=0.01, rms_initial_mean_square=0.25,
                            rms_eps_placement=placement, dtype="float64")
    other = spec.replace(rms_eps_placement="inside" if placement == "outside" else "outside")
    gen = rng(0, "misc", 3)
    w0 = [gen.standard_normal((3, 4)), gen.standard_normal(4)]
    variables = [tf.Variable(w) for w in w0]
    optimizer = tfw.SpecRMSprop(variables, spec)
    expected = [(w, np.full_like(w, 0.25)) for w in w0]
    for _ in range(2):
        grads = [gen.standard_normal(w.shape) for w in w0]
        grads[1][0] = 0.0  # a zero gradient: only the mean square decays
        optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables))
        assert max(np.abs(numpy_rmsprop(w, v, g, spec)[0] - numpy_rmsprop(w, v, g, other)[0]).max()
                   for (w, v), g in zip(expected, grads)) > 1e-5
        expected = [numpy_rmsprop(w, v, g, spec) for (w, v), g in zip(expected, grads)]
        for var, (w, v) in zip(variables, expected):
            np.testing.assert_allclose(var.numpy(), w, rtol=0, atol=1e-15)
            np.testing.assert_allclose(optimizer.mean_square(var).numpy(), v, rtol=0, atol=1e-15)


# --- agreement with impl_pytorch ----------------------------------------------------------------------

# --- the training loop: one graph per generator iteration --------------------------------------------
@pytest.mark.parametrize("preset", ["tutorial", "wgan-gp", "gan"])
def test_train_loop_runs_a_whole_iteration_as_one_graph_and_matches_the_steps(preset, random_images):
    """train.fit calls WGAN.train_iteration (a G-it's critic steps + the generator step in one tf.function);
    it must compute what the contract's step-by-step graphs compute, record for record."""
    import impl_tensorflow.train as train
    from shared.spec import get_preset
    from shared.streams import Streams
    spec = get_preset(preset).replace(dtype="float64" if preset == "wgan-gp" else "float32")
    streams = Streams(random_images.astype(spec.dtype), spec)
    by_fit, by_step = impl_tensorflow.build_wgan(spec, init_params(spec)), impl_tensorflow.build_wgan(spec, init_params(spec))
    logs = train.fit(by_fit, streams, range(3), progress="none")
    for t in range(streams.schedule.generator_after(2) + 1):
        record = by_step.critic_step(*streams.critic_inputs(t))
        if streams.schedule.generator_follows(t):
            generator = by_step.generator_step(streams.generator_z(t))
    a, b = by_fit.get_params(), by_step.get_params()
    if preset != "wgan-gp":  # the same kernels on the same inputs: bit for bit
        assert logs[-1]["critic_loss"] == record["critic_loss"]
        assert logs[-1]["generator_loss"] == generator["generator_loss"]
        assert all(np.array_equal(a[name], b[name]) for name in a)
        return
    # The penalty's double-backprop graph is optimised differently inside the bigger graph: rounding noise,
    # which Adam's near-sign steps turn into lr-sized float32 differences (so this one runs in float64).
    assert logs[-1]["critic_loss"] == pytest.approx(record["critic_loss"], rel=1e-10)
    assert max(np.max(np.abs(a[n] - b[n])) for n in a) < 1e-9
