"""What every implementation promises the harness (shared/core/protocol.py), checked once, the same way, for
every installed framework and Keras backend — only through the contract, so the same tests would check
a user's own implementation. Per-framework files (test_pytorch_impl.py, ...) keep that framework's idioms.

- canonical parameters and optimizer state round-trip exactly, wrong shapes are refused, copies are copies;
- a wrong or missing device is a one-line error;
- the critic's output is an unbounded linear score (WGAN change 1);
- clipping holds after every critic step, on the critic's weights and biases only (WGAN change 3);
- train.fit() runs exactly the contract's critic and generator steps in the spec's schedule — across
  epoch ends, on an epoch's partial last batch, from and to the middle of an epoch — and logs one line
  per generator iteration;
- the execution modes are declared, the default first, and an unknown one is a one-line error.

The same tests run on examples/torch_wgan.py, a user's own implementation outside the impl_* packages.

Keras on torch and on JAX run in their own process (one process holds one Keras backend):
test_other_keras_backends runs this file there.
"""

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from shared.core.errors import UserError
from shared.core.loop import LOG_KEYS, iteration_log
from shared.core.params import init_params, param_shapes, trainable_names
from shared.core.protocol import build, installed_frameworks, load_implementation, training_loop
from shared.core.spec import TUTORIAL, get_preset
from shared.core.streams import Streams, rng
from helpers import max_diff, with_random_batchnorm

ROOT = Path(__file__).resolve().parents[1]
OTHER_KERAS = ("keras:torch", "keras:jax")
# CONTRACT_FRAMEWORK=keras:torch: the run test_other_keras_backends starts in a process of its own.
# examples.torch_wgan: a user's own implementation (docs/own-implementation.md), held to the same promises.
FRAMEWORKS = [os.environ["CONTRACT_FRAMEWORK"]] if os.environ.get("CONTRACT_FRAMEWORK") else \
    installed_frameworks(("pytorch", "tensorflow", "keras")) + \
    (["examples.torch_wgan"] if installed_frameworks(("pytorch",)) else [])
N_TRAIN = 5 * 64 + 32  # epochs of 5 full batches and one of 32, as MNIST ends
# A small network for the tests that need no real sizes.
SMALL = TUTORIAL.replace(latent_dim=8, data_dim=16, generator_hidden=(16, 32, 32), critic_hidden=(32, 16),
                         batch_size=16, dtype="float64")


def make(framework, spec, params=None, **kwargs):
    with warnings.catch_warnings():  # keras:torch/jax warn that some float64 ops run in float32
        warnings.simplefilter("ignore")
        return build(framework, spec, params, threads=1, **kwargs)


def exact_float64(framework: str) -> bool:
    """Keras on torch and JAX computes means (on torch a maximum too) in float32 even for float64 (docs/parity.md)."""
    return framework not in OTHER_KERAS


# --- canonical parameters and optimizer state ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_params_round_trip_exactly(framework, dtype):
    spec = TUTORIAL.replace(dtype=dtype)
    params = with_random_batchnorm(spec, init_params(spec))
    got = make(framework, spec, params).get_params()
    assert list(got) == list(param_shapes(spec))
    for name, value in params.items():
        assert got[name].dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_set_params_rejects_wrong_shapes_and_get_params_returns_copies(framework):
    params = init_params(SMALL)
    wgan = make(framework, SMALL, params)
    wrong = dict(params, **{"critic.dense0.kernel": params["critic.dense0.kernel"].T})
    with pytest.raises(UserError, match="critic.dense0.kernel"):
        wgan.set_params(wrong)
    wgan.get_params()["critic.dense0.bias"][:] = 123.0
    np.testing.assert_array_equal(wgan.get_params()["critic.dense0.bias"], params["critic.dense0.bias"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_optimizer_state_starts_at_the_spec_value_and_round_trips(framework):
    spec = SMALL.replace(rms_initial_mean_square=0.25)
    wgan = make(framework, spec, init_params(spec))
    state = wgan.get_optimizer_state()
    assert sorted(state) == sorted(trainable_names(spec, "generator") + trainable_names(spec, "critic"))
    assert all(np.all(v == 0.25) for v in state.values()), "the mean square exists before the first step"
    gen = rng(0, "misc", 1)
    new = {k: gen.uniform(0, 1, v.shape) for k, v in state.items()}
    wgan.set_optimizer_state(new)
    got = wgan.get_optimizer_state()
    for k in new:
        np.testing.assert_array_equal(got[k], new[k], err_msg=k)


@pytest.mark.parametrize("preset", ["corrected", "wgan-gp"])  # RMSprop's and Adam's slots
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_restored_params_and_optimizer_state_continue_bit_identically(framework, preset, random_images):
    """What a checkpoint relies on: a fresh model given a trained one's params and optimizer state takes
    the very same next step."""
    spec = get_preset(preset).replace(dtype="float64")
    streams = Streams(random_images.astype(np.float64), spec)
    wgan = make(framework, spec, init_params(spec))
    for t in range(5):
        wgan.critic_step(*streams.critic_inputs(t))
    wgan.generator_step(streams.generator_z(4))
    params, state = wgan.get_params(), wgan.get_optimizer_state()
    assert state["critic.dense0.kernel"].shape == (784, 512) and state["critic.dense0.kernel"].any()
    clone = make(framework, spec, params)
    clone.set_optimizer_state(state)
    assert wgan.critic_step(*streams.critic_inputs(5)) == clone.critic_step(*streams.critic_inputs(5))
    assert wgan.generator_step(streams.generator_z(5)) == clone.generator_step(streams.generator_z(5))
    diff, name = max_diff(wgan.get_params(), clone.get_params())
    assert diff == 0.0, f"{name} differs by {diff:.3g} after one restored step"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_unknown_or_missing_device_is_a_user_error(framework):
    with pytest.raises(UserError, match="unknown device") as err:
        make(framework, SMALL, device="tpu")
    assert "\n" not in str(err.value)
    if not (Path("/proc/driver/nvidia").exists()):
        with pytest.raises(UserError, match="no (CUDA )?GPU") as err:
            make(framework, SMALL, device="cuda")
        assert "--device cpu" in str(err.value)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: a process cannot use more than one here")
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_one_thread_is_one_core(framework):
    """threads=1 keeps training on one core: compare runs two framework processes side by side on two cores,
    and bench's one-thread figures are one core's. (Keras on JAX once took every core whatever it was asked.)
    CPU time over wall time can only drop when the machine is busy, so a busy machine cannot fail this."""
    import resource
    spec = TUTORIAL.replace(dtype="float32")  # the real sizes: [64, 784] @ [784, 512] is worth splitting
    wgan = make(framework, spec, init_params(spec))
    real = rng(0, "misc", 1).uniform(-1, 1, (spec.batch_size, spec.data_dim)).astype(np.float32)
    z = rng(0, "misc", 2).normal(size=(spec.batch_size, spec.latent_dim)).astype(np.float32)
    for _ in range(3):  # tracing and compiling may use helper threads
        wgan.critic_step(real, z)
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731 - user + system seconds
    start_wall, start_cpu, steps = time.perf_counter(), cpu(), 0
    while time.perf_counter() - start_wall < 1.5 or steps < 10:
        wgan.critic_step(real, z)
        steps += 1
    cores = (cpu() - start_cpu) / (time.perf_counter() - start_wall)
    assert cores < 1.25, f"{framework} pinned to one thread used {cores:.2f} cores over {steps} critic steps"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_float64_is_float64_or_says_it_is_not(framework):
    """Keras on torch and JAX computes means (on torch a maximum too) in float32 even for float64: it must warn; every
    other implementation computes float64 as asked, silently."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(framework, SMALL, init_params(SMALL), threads=1)
    warned = any("float32" in str(w.message) for w in caught)
    assert warned == (not exact_float64(framework)), [str(w.message) for w in caught]


# --- the critic and clipping ---------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_critic_output_is_an_unbounded_linear_score(framework):
    """WGAN change 1. All-ones kernels, zero biases: +5 inputs give 5*16*32*16; -5 inputs go through the
    slope twice (a framework's float32 slope constant would miss by 3e-8: the spec's slope is exact)."""
    spec = SMALL.replace(clip_value=10.0)
    params = init_params(spec)
    for name, value in params.items():
        if name.startswith("critic."):
            params[name] = np.ones_like(value) if name.endswith(".kernel") else np.zeros_like(value)
    scores = make(framework, spec, params).critic_scores(np.stack([np.full(16, 5.0), np.full(16, -5.0)]))
    want = [5.0 * 16 * 32 * 16, 0.2 * 0.2 * -5.0 * 16 * 32 * 16]
    np.testing.assert_allclose(scores, want, rtol=1e-13 if exact_float64(framework) else 1e-7)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_critic_is_the_numpy_reference_critic(framework):
    """shared.core.params.critic_forward (the reports' critic surfaces) computes what the framework's critic does."""
    from shared.core.params import critic_forward
    spec = TUTORIAL.replace(dtype="float64", data_dim=2)
    params = init_params(spec)
    x = np.random.default_rng(3).uniform(-1, 1, (100, 2))
    np.testing.assert_allclose(critic_forward(params, x, spec.leaky_slope), make(framework, spec, params).critic_scores(x),
                               rtol=0, atol=1e-14 if exact_float64(framework) else 1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_clipping_holds_after_every_critic_step_on_critic_weights_only(framework):
    """WGAN change 3: after every critic update every critic weight and bias is in [-c, c]; the record's
    max |w| and clipped share say so; generator weights and BatchNorm statistics are never clipped."""
    spec = SMALL.replace(lr=0.05)  # big steps: every step pushes weights past c before clipping
    c = spec.clip_value
    params = init_params(spec)  # critic weights start at up to 1/sqrt(16) = 0.25 >> c
    for name in params:
        if name.endswith("moving_mean"):
            params[name] = np.full_like(params[name], 0.5)
    wgan = make(framework, spec, params)
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


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_wgan_gp_without_mixing_weights_is_a_user_error(framework):
    spec = SMALL.replace(**{k: v for k, v in get_preset("wgan-gp").to_dict().items()
                            if k in ("variant", "optimizer", "gp_weight", "lr", "adam_beta1", "adam_beta2")})
    wgan = make(framework, spec, init_params(spec))
    gen = rng(0, "misc", 3)
    with pytest.raises(UserError, match="mixing weights"):
        wgan.critic_step(gen.uniform(-1, 1, (16, 16)), gen.standard_normal((16, 8)))


# --- the training loop ---------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["tutorial", "corrected", "wgan-gp", "gan"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fit_is_the_contract_steps_in_the_schedule(framework, preset, random_images):
    # narrow hidden layers: what is checked is the loop (schedule, epoch ends, the partial batch), not the widths
    spec = get_preset(preset).replace(dtype="float64", generator_hidden=(32, 64, 64), critic_hidden=(64, 32))
    streams = Streams(random_images[:N_TRAIN].astype(np.float64), spec)
    schedule = streams.schedule
    by_fit, by_hand = (make(framework, spec, init_params(spec)) for _ in range(2))
    fit = training_loop(load_implementation(framework))
    iterations = range(1, 6)  # starts and stops mid-epoch, crosses at least one epoch end
    logs = fit(by_fit, streams, iterations, progress="none")
    want = []
    for i in iterations:
        block = [by_hand.critic_step(*streams.critic_inputs(t)) for t in schedule.critic_steps(i)]
        generator = by_hand.generator_step(streams.generator_z(schedule.generator_after(i)))
        want.append(iteration_log(i, streams, block, generator, 0.0))
    diff, name = max_diff(by_fit.get_params(), by_hand.get_params())
    # TensorFlow runs a G-it as one graph, which may sum the penalty's double backprop in another order.
    tolerance = 1e-12 if exact_float64(framework) else 1e-6
    assert diff <= tolerance, f"{framework} fit() vs the contract's steps: {name} differs by {diff:.3g}"
    diff, name = max_diff(by_fit.get_optimizer_state(), by_hand.get_optimizer_state())
    assert diff <= tolerance, f"{framework} fit() vs the contract's steps: optimizer state {name} differs by {diff:.3g}"
    assert [log["iteration"] for log in logs] == list(iterations)
    for got, expected in zip(logs, want):
        assert tuple(got) == LOG_KEYS
        for key in LOG_KEYS[:-1]:  # all but seconds
            assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), (got["iteration"], key)
    epochs = {log["epoch"] for log in logs}
    assert len(epochs) >= 2, "the run must cross an epoch end"
    if preset == "tutorial":  # the partial batch was trained on
        trained = [t for i in iterations for t in schedule.critic_steps(i)]
        assert any(schedule.batch_rows(t) == 32 for t in trained)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_on_iteration_sees_the_model_of_that_iteration(framework, random_images):
    """The harness samples snapshots and saves checkpoints from inside the training loop (on_iteration):
    the model it reads there is the one after that iteration's generator step. (Keras' fit() on JAX keeps
    its state outside the variables mid-epoch: a snapshot there once failed.)"""
    spec = TUTORIAL.replace(dtype="float64", generator_hidden=(32, 64, 64), critic_hidden=(64, 32))
    streams = Streams(random_images[:N_TRAIN].astype(np.float64), spec)
    schedule, z = streams.schedule, streams.fixed_z(4)
    by_fit, by_hand = (make(framework, spec, init_params(spec)) for _ in range(2))
    seen = {}
    training_loop(load_implementation(framework))(
        by_fit, streams, range(4), on_iteration=lambda i, log: seen.update({i: by_fit.generate(z, training=False)}),
        progress="none")
    tolerance = 1e-12 if exact_float64(framework) else 1e-6
    for i in range(4):
        for t in schedule.critic_steps(i):
            by_hand.critic_step(*streams.critic_inputs(t))
        by_hand.generator_step(streams.generator_z(schedule.generator_after(i)))
        np.testing.assert_allclose(seen[i], by_hand.generate(z, training=False), rtol=0, atol=tolerance)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_execution_modes_are_declared_and_an_unknown_one_is_refused(framework):
    from shared.core.loop import fit_by_steps
    from shared.suite.bench import list_modes
    module = load_implementation(framework)
    if not hasattr(module, "execution_modes"):  # optional: a user's module gets one mode, the harness's loop
        assert list(list_modes(framework)) == ["default"] and training_loop(module) is fit_by_steps
        return
    modes = module.execution_modes()
    assert modes and all(isinstance(k, str) and v for k, v in modes.items())
    wgan = make(framework, SMALL, init_params(SMALL))
    with module.execution_mode(wgan, next(iter(modes))) as fit:  # the default mode trains with train.fit
        assert fit is training_loop(module)
    with pytest.raises(UserError, match="unknown mode 'warp'") as err:
        with module.execution_mode(wgan, "warp"):
            pass
    assert next(iter(modes)) in str(err.value) and "\n" not in str(err.value)


# --- Keras on its other backends: this file again, in a process of its own -------------------------------
@pytest.mark.skipif(bool(os.environ.get("CONTRACT_FRAMEWORK")), reason="already inside the other backend's run")
@pytest.mark.parametrize("framework", OTHER_KERAS)
def test_other_keras_backends(framework):
    if framework not in installed_frameworks((framework,)):
        pytest.skip(f"{framework} is not installed: pip install -e '.[{framework.replace(':', '-')}]' (CI installs it)")
    env = dict(os.environ, CONTRACT_FRAMEWORK=framework, KERAS_BACKEND=framework.split(":")[1], TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
