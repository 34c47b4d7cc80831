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
from shared.core.params import init_params  # noqa: E402
from shared.core.spec import TUTORIAL  # noqa: E402
from shared.core.streams import rng  # noqa: E402
from helpers import numpy_rmsprop  # noqa: E402

impl_pytorch.set_threads(1)
impl_tensorflow.set_threads(1)

# A small network for the tests that need no real sizes.
SMALL = TUTORIAL.replace(latent_dim=8, data_dim=16, generator_hidden=(16, 32, 32), critic_hidden=(32, 16),
                         batch_size=16, dtype="float64")


# --- threads ---------------------------------------------------------------------------------------------


def test_set_threads_after_tensorflow_started_does_not_raise():
    tf.constant(1.0) + 1.0  # TensorFlow's runtime is up: its thread pools are fixed now
    impl_tensorflow.set_threads(2)


@pytest.mark.parametrize("module, xla", [("impl_tensorflow", "xla"), ("impl_keras", "fit+jit")])
@pytest.mark.parametrize("n, intra, inter, mode", [(1, 1, 1, None), (2, 1, 2, None), (8, 4, 2, None), (2, 2, 2, "xla")])
def test_set_threads_runs_two_ops_side_by_side_on_half_the_threads_each(module, xla, n, intra, inter, mode):
    """Two inter-op threads: with one, TensorFlow runs a critic step's independent passes one after the other
    (two threads were slower than one); n // 2 intra-op threads each: two ops on one thread each ran a G-it
    1.4x faster than two ops on two threads each on two cores (docs/performance.md). XLA's modes keep every
    thread in the intra-op pool, where XLA runs its ops."""
    import subprocess
    import sys
    mode = xla if mode == "xla" else mode
    code = (f"import {module} as m, tensorflow as tf; m.set_threads({n}, mode={mode!r}); "
            "print(tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [str(intra), str(inter)]


# --- losses, critic, clipping, RMSprop ----------------------------------------------------------------
def test_golden_wasserstein_losses():
    d_real = tf.constant([-5.0, 1.4, 12.5, 2.7], tf.float64)
    d_fake = tf.constant([10.0, 4.4, -5.5, 3.6], tf.float64)
    assert float(tfw.critic_loss(d_real, d_fake)) == pytest.approx(0.225, abs=1e-12)
    assert float(tfw.generator_loss(d_fake)) == pytest.approx(-3.125, abs=1e-12)


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


# --- the training loop: one graph per generator iteration --------------------------------------------
def test_train_loop_runs_a_whole_iteration_as_one_graph(random_images):
    """train.fit calls WGAN.train_iteration: a G-it's critic steps and the generator step as ONE tf.function,
    traced once per number of critic steps (tests/test_contract.py: it computes what the steps compute)."""
    import impl_tensorflow.train as train
    from shared.core.spec import get_preset
    from shared.core.streams import Streams
    spec = get_preset("corrected")
    wgan = impl_tensorflow.build_wgan(spec, init_params(spec))
    train.fit(wgan, Streams(random_images, spec), range(3), progress="none")
    assert list(wgan._iterations) == [spec.n_critic]
    assert wgan._iterations[spec.n_critic].experimental_get_tracing_count() == 1


def test_one_graph_iteration_returns_what_the_log_keeps(monkeypatch, random_images):
    """train_iteration returns what shared/core/loop.py logs of a G-it's critic steps: the last step's record,
    with max_abs_weight the largest over all of them, wherever in the iteration that largest one came."""
    import impl_tensorflow.contract as contract
    from shared.core.protocol import CRITIC_RECORD
    from shared.core.spec import get_preset
    from shared.core.streams import Streams
    spec = get_preset("corrected")
    assert spec.n_critic == 5  # five critic steps per G-it, below
    wgan = impl_tensorflow.build_wgan(spec, init_params(spec))
    maxima = iter([0.3, 0.9, 0.2, 0.4, 0.1])  # the unrolled steps', in order (traced once)
    steps = iter(range(spec.n_critic))

    def critic_step(wgan, real, z, mix):  # step t's record: t everywhere but max_abs_weight
        t = float(next(steps))
        return {**{k: tf.constant(t, tf.float32) for k in CRITIC_RECORD},
                "max_abs_weight": tf.constant(next(maxima), tf.float32)}

    monkeypatch.setattr(contract, "critic_step", critic_step)
    block, generator = wgan.train_iteration(Streams(random_images, spec).iteration_inputs(3))
    assert block == [{**{k: 4.0 for k in CRITIC_RECORD}, "max_abs_weight": pytest.approx(0.9)}]
    assert set(generator) == {"generator_loss"}
