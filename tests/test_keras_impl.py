"""impl_keras's own idioms: golden losses on Keras tensors, the WeightClip constraint, the BatchNorm subclass,
the Keras RMSprop, fit()'s callbacks. What every implementation promises (fit() == the contract's steps, the
other backends included) is in tests/test_contract.py; agreement with PyTorch in tests/test_parity.py."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("these tests run Keras on its TensorFlow backend (tests/test_contract.py runs the others)",
                allow_module_level=True)

import impl_keras  # noqa: E402
import impl_keras.wgan as kw  # noqa: E402
from impl_keras.train import SampleGrid, epoch_blocks, fit  # noqa: E402
from keras import ops  # noqa: E402
from shared.core.params import init_params  # noqa: E402
from shared.core.spec import TUTORIAL, get_preset  # noqa: E402
from shared.core.streams import Schedule, Streams, rng  # noqa: E402
from helpers import numpy_rmsprop  # noqa: E402

impl_keras.set_threads(1)

# A small network for the tests that need no real sizes.
SMALL = TUTORIAL.replace(latent_dim=8, data_dim=16, generator_hidden=(16, 32, 32), critic_hidden=(32, 16),
                         batch_size=16, dtype="float64")




# --- losses, layers, clipping, RMSprop ----------------------------------------------------------------
def test_golden_wasserstein_losses():
    d_real = ops.convert_to_tensor(np.array([-5.0, 1.4, 12.5, 2.7]))
    d_fake = ops.convert_to_tensor(np.array([10.0, 4.4, -5.5, 3.6]))
    assert float(kw.critic_loss(d_real, d_fake)) == pytest.approx(0.225, abs=1e-12)
    assert float(kw.generator_loss(d_fake)) == pytest.approx(-3.125, abs=1e-12)


def test_clipping_is_a_constraint_on_exactly_the_critic_weights_and_biases():
    """Keras' idiom for WGAN change 3: a WeightClip constraint, which optimizer.apply runs after every
    update (tests/test_contract.py checks the clipped values themselves, as for every framework)."""
    wgan = impl_keras.build_wgan(SMALL, init_params(SMALL))
    critic_ids = {id(v) for v in wgan.critic.trainable_variables}
    assert len(critic_ids) == 6
    for variable in wgan.model.weights:
        constrained = isinstance(variable.constraint, kw.WeightClip)
        assert constrained == (id(variable) in critic_ids), variable.path


@pytest.mark.parametrize("running_var", ["unbiased", "biased"])
def test_batchnorm_normalises_with_the_batch_and_tracks_the_spec_running_variance(running_var):
    spec = SMALL.replace(bn_running_var=running_var, bn_eps=1e-5)
    layer = kw.BatchNorm(spec)
    layer.build((None, 5))
    x = rng(0, "misc", 5).normal(3.0, 2.0, (16, 5))
    y = layer(ops.convert_to_tensor(x), training=True).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=0, atol=1e-13)
    m = spec.bn_momentum  # torch convention: weight of the new batch
    np.testing.assert_allclose(layer.moving_mean.numpy(), m * x.mean(0), rtol=1e-15)
    batch_var = x.var(0, ddof=1 if running_var == "unbiased" else 0)
    np.testing.assert_allclose(layer.moving_variance.numpy(), (1 - m) + m * batch_var, rtol=1e-15)
    assert abs(x.var(0, ddof=1) - x.var(0)).min() * m > 1e-6, "the two conventions must differ visibly here"


@pytest.mark.parametrize("placement", ["outside", "inside"])
def test_rmsprop_matches_the_formula(placement):
    # A big eps, so its placement changes the result by far more than the tolerance.
    spec = TUTORIAL.replace(lr=0.01, rms_decay=0.9, rms_eps=0.01, rms_initial_mean_square=0.25,
                            rms_eps_placement=placement, dtype="float64")
    other = spec.replace(rms_eps_placement="inside" if placement == "outside" else "outside")
    gen = rng(0, "misc", 3)
    w0 = [gen.standard_normal((3, 4)), gen.standard_normal(4)]
    variables = [keras.Variable(w, dtype="float64") for w in w0]
    optimizer = kw.SpecRMSprop(spec)
    optimizer.build(variables)
    expected = [(w, np.full_like(w, 0.25)) for w in w0]
    for _ in range(2):
        grads = [gen.standard_normal(w.shape) for w in w0]
        grads[1][0] = 0.0  # a zero gradient: only the mean square decays
        optimizer.apply([ops.convert_to_tensor(g) for g in grads], variables)
        assert max(np.abs(numpy_rmsprop(w, v, g, spec)[0] - numpy_rmsprop(w, v, g, other)[0]).max()
                   for (w, v), g in zip(expected, grads)) > 1e-5
        expected = [numpy_rmsprop(w, v, g, spec) for (w, v), g in zip(expected, grads)]
        for var, (w, v) in zip(variables, expected):
            np.testing.assert_allclose(var.numpy(), w, rtol=0, atol=1e-15)
            np.testing.assert_allclose(optimizer.mean_square(var).numpy(), v, rtol=0, atol=1e-15)


# --- fit() and its callbacks (tests/test_contract.py: fit() is the contract's steps) -------------------
def test_fit_callbacks_count_batches_like_the_tutorial_and_history_holds_the_epoch_means(random_images):
    """The tutorial's schedule over 500 samples (epochs of 7 full batches and one of 52): G-its 2..8 cross
    three epoch ends, so fit() runs three calls; the SampleGrid callback saves every 10th batch as the
    script's `batches_done % sample_interval`, and History holds the Mean trackers of the last call."""
    spec = TUTORIAL.replace(dtype="float64")
    wgan = impl_keras.build_wgan(spec, init_params(spec))
    streams = Streams(random_images[:500].astype(np.float64), spec)
    schedule = streams.schedule
    first = schedule.critic_steps(2).start
    samples = []
    grid = SampleGrid(lambda done, x: samples.append((done, x.shape)), streams.fixed_z(4), every=10, first_batch=first)
    logs = fit(wgan, streams, range(2, 9), progress="none", callbacks=[grid])
    assert {log["epoch"] for log in logs} == {1, 2, 3, 4}
    last = schedule.generator_after(8)
    assert samples == [(b, (4, 784)) for b in range(first, last + 1) if b % 10 == 0]
    history = wgan.model.history.history  # the last fit() call: one partial epoch
    assert history["generator_loss"] == [pytest.approx(np.mean([log["generator_loss"] for log in logs
                                                               if log["epoch"] == 4]), rel=1e-6)]  # Mean: float32
    assert history["wasserstein"] == [pytest.approx(-history["critic_loss"][0], rel=1e-6)]



@pytest.mark.parametrize("preset, whole_epoch", [("tutorial", 190), ("corrected", 189)])
def test_fit_batches_cover_the_schedule_and_whole_epochs_are_one_fit_call(preset, whole_epoch):
    """MNIST's 938 batches an epoch: the tutorial's counter makes every epoch 190 fit() batches; Algorithm 1's
    187.6 iterations an epoch make 188 or 189, evened out to 189 by cutting one more iteration in two. So a
    1000-G-it run is two fit() calls (five whole epochs, then the last one's 60-odd iterations), not six: each
    call builds and tears down a tf.data pipeline (seconds, at times)."""
    schedule = Schedule(get_preset(preset), 60_000)
    iterations = range(1000)
    epochs = epoch_blocks(schedule, iterations)
    steps = [t for blocks in epochs for block in blocks for t in block]
    assert steps == list(range(schedule.generator_after(999) + 1))  # every critic step once, in order
    for epoch, blocks in enumerate(epochs):
        for block in blocks:  # one epoch and one batch size a batch, at most one iteration, in n_critic slots
            assert {schedule.epoch_of(t) for t in block} == {epoch}
            assert len({schedule.batch_rows(t) for t in block}) == 1 and len(block) <= schedule.spec.n_critic
            assert not any(schedule.generator_follows(t) for t in block[:-1])
    assert [len(blocks) for blocks in epochs[:5]] == [whole_epoch] * 5 and len(epochs) == 6
    assert len(epochs[5]) < whole_epoch  # the run stops mid-epoch: a fit() call of its own
    assert epoch_blocks(schedule, range(0)) == []


def test_fit_makes_one_call_per_stretch_of_equal_epochs(random_images, monkeypatch):
    spec = SMALL.replace(data_dim=784)
    wgan = impl_keras.build_wgan(spec, init_params(spec))
    streams = Streams(random_images[:200].astype(np.float64), spec)  # epochs of 13 batches (12 full, one of 8)
    calls = []
    real_fit = wgan.model.fit
    monkeypatch.setattr(wgan.model, "fit", lambda data, **kw: calls.append((kw["steps_per_epoch"], kw["initial_epoch"],
                                                                            kw["epochs"])) or real_fit(data, **kw))
    iterations = range(0, streams.schedule.iterations_within(4 * 13 + 3))  # four whole epochs and a bit
    fit(wgan, streams, iterations, progress="none")
    epochs = epoch_blocks(streams.schedule, iterations)
    assert calls == [(len(epochs[0]), 0, 4), (len(epochs[4]), 4, 5)]


def test_fit_reads_the_batches_through_tf_data_without_autotuning(random_images):
    """On TensorFlow fit() gets a tf.data pipeline over the PyDataset's items (backend.fit_input): the same
    arrays in the same order, axis 0 open, and no autotuning thread for the pipeline's end to wait for."""
    from impl_keras.backend import fit_input
    from impl_keras.train import CriticBlocks
    spec = SMALL.replace(data_dim=784)
    streams = Streams(random_images[:200].astype(np.float64), spec)
    items = CriticBlocks(streams, [block for blocks in epoch_blocks(streams.schedule, range(4)) for block in blocks])
    pipeline = fit_input(items)
    assert pipeline.options().autotune.enabled is False
    got = list(pipeline.as_numpy_iterator())
    assert len(got) == len(items) and all(pipeline.element_spec[key].shape[0] is None for key in got[0])
    for j, item in enumerate(got):
        for key, x in items[j].items():
            np.testing.assert_array_equal(item[key], x)


def test_fit_trains_from_an_int_and_reports_every_iteration(random_images):
    spec = SMALL.replace(data_dim=784)
    wgan = impl_keras.build_wgan(spec, init_params(spec))
    seen = []
    logs = fit(wgan, Streams(random_images.astype(np.float64), spec), 3,
               on_iteration=lambda i, log: seen.append(i), progress="none")
    assert seen == [0, 1, 2] and [log["step"] for log in logs] == [1, 6, 11]  # the tutorial: after batch 0, 5, 10
    assert all(log["max_abs_weight"] <= spec.clip_value for log in logs)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c script args` in a fresh process from the repository root (a backend or malloc state of its own)."""
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT)


# --- BatchNorm on torch: torch's fused kernel (backend.fused_batch_norm) ----------------------------------
BATCHNORM_ON_TORCH = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch
import impl_keras.wgan as kw
from shared.core.spec import TUTORIAL
spec = TUTORIAL.replace(dtype="float64", bn_running_var=sys.argv[1], bn_eps=1e-5)
layer = kw.BatchNorm(spec)
layer.build((None, 5))
x = np.random.default_rng(0).normal(3.0, 2.0, (16, 5))
y = layer(torch.tensor(x), training=True).detach().numpy()
m = spec.bn_momentum  # torch convention: weight of the new batch
batch_var = x.var(0, ddof=1 if sys.argv[1] == "unbiased" else 0)
print(np.abs(y - (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)).max(),
      np.abs(layer.moving_mean.numpy() - m * x.mean(0)).max(),
      np.abs(layer.moving_variance.numpy() - ((1 - m) + m * batch_var)).max())
"""


@pytest.mark.parametrize("running_var", ["unbiased", "biased"])
def test_batchnorm_on_torch_is_the_same_formula(running_var):
    """On torch, BatchNorm's training step is torch's fused kernel where the spec asks for torch's unbiased running
    variance (backend.fused_batch_norm), keras.ops lines otherwise: both must be the formula, in float64."""
    pytest.importorskip("torch")
    done = run_script(BATCHNORM_ON_TORCH, running_var)
    assert done.returncode == 0, done.stderr[-2000:]
    output, running_mean, running_variance = (float(v) for v in done.stdout.split()[-3:])
    # keras.ops' mean on torch computes in float32 even for float64 (contract.py's warning): ~1e-7 off
    bound = 1e-13 if running_var == "unbiased" else 1e-6
    assert output < bound and running_mean < bound and running_variance < bound


# --- glibc's malloc thresholds after tf.data (fit() reads the PyDataset through tf.data) --------------
PAGE_FAULTS = """
import os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"; os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np, tensorflow as tf
from impl_keras.backend import keep_malloc_thresholds
if sys.argv[1] == "keep":
    keep_malloc_thresholds()  # runs the tf.data op itself, then restores the thresholds
else:
    next(iter(tf.data.Dataset.from_generator(lambda: iter([0]), output_signature=tf.TensorSpec((), tf.int32))))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    block = np.ones(3 << 17)  # 3 MiB, written: 768 pages each time it comes fresh from mmap
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6") and not os.path.exists("/lib64/libc.so.6"),
                    reason="glibc only: other C libraries have no mallopt patch to undo")
def test_tf_data_leaves_malloc_reusing_freed_blocks():
    """tf.data's generator op sets M_TRIM_THRESHOLD, which freezes glibc's mmap threshold at 128 KB: every
    larger tensor is then mmap'd and page-faulted anew (fit() at half its steps' speed). The control shows the
    patch is there; keep_malloc_thresholds must undo it."""
    def faults(mode: str) -> int:
        done = run_script(PAGE_FAULTS, mode)
        done.check_returncode()
        return int(done.stdout.split()[-1])

    assert faults("tfdata") > 30_000  # the control: 50 x 768 pages
    assert faults("keep") < 5_000  # the first block only


RUN_LAYERS_ON_TORCH = """
import os
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch
import impl_keras.wgan as kw
from impl_keras.backend import EagerModel
from shared.core.spec import TUTORIAL
spec = TUTORIAL.replace(latent_dim=8, data_dim=16, generator_hidden=(16, 32, 32), critic_hidden=(32, 16),
                        batch_size=16, dtype="float64")
rng = np.random.default_rng(0)
differences = []
for network, width in ((kw.Generator(spec), 8), (kw.Critic(spec), 16)):
    assert isinstance(network, EagerModel)
    twin = network.__class__(spec)
    twin.set_weights(network.get_weights())
    x = torch.tensor(rng.normal(size=(16, width)))
    for training in (True, False, True):
        # network(x): EagerModel.__call__ -> call() -> run_layers; twin.model(x): Keras' Sequential, whole
        shortcut, keras_call = network(x, training=training), twin.model(x, training=training)
        differences.append(float((shortcut - keras_call).abs().max()))
    # BatchNorm's running statistics, updated in training mode by both paths
    differences += [float(np.abs(a - b).max()) for a, b in zip(network.get_weights(), twin.get_weights())]
print(max(differences), len(differences))
"""


def test_run_layers_on_torch_is_keras_own_call_exactly():
    """backend.EagerModel and run_layers skip Layer.__call__ on torch (speed): a network's call must compute bit
    for bit what Keras' own call of its Sequential computes, in training and inference, BatchNorm's running
    statistics included."""
    pytest.importorskip("torch")
    done = run_script(RUN_LAYERS_ON_TORCH)
    assert done.returncode == 0, done.stderr[-2000:]
    largest, compared = done.stdout.split()[-2:]
    assert float(largest) == 0.0 and int(compared) > 6


DENSE_ON_TORCH = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np, torch
import impl_keras.wgan as kw
from shared.core.spec import TUTORIAL
spec = TUTORIAL.replace(dtype=sys.argv[1])
layer = kw._dense(spec, 784, 512, "dense0")
layer.build((None, 784))
rng = np.random.default_rng(0)
x, up = rng.normal(size=(64, 784)), rng.normal(size=(64, 512))  # up: d loss / d y
w, b = (np.asarray(v.value.detach(), np.float64) for v in (layer.kernel, layer.bias))
exact = [x @ w + b, up @ w.T, x.T @ up, up.sum(0)]  # y, d/dx, d/dkernel, d/dbias in float64
errors = []
for call in (layer.call, lambda x: keras.layers.Dense.call(layer, x)):  # the fused path, then Keras' own
    xt = torch.tensor(x, dtype=getattr(torch, sys.argv[1]), requires_grad=True)
    y = call(xt)
    got = [y, *torch.autograd.grad(y, [xt, layer.kernel.value, layer.bias.value], torch.tensor(up, dtype=y.dtype))]
    errors.append((y.grad_fn.name(), max(float(np.abs(g.detach().numpy() - e).max() / np.abs(e).max())
                                         for g, e in zip(got, exact))))
print(*errors[0], *errors[1])
"""


def test_dense_on_torch_is_one_addmm_with_keras_own_results():
    """On torch, wgan.Dense computes x @ kernel + bias as torch's one addmm (backend.fused_dense, speed). Against
    float64 NumPy, its output and gradients (input, kernel, bias) are as close as Keras' own matmul-then-add's in
    float32, and in float64 truly float64, where Keras' own ops.matmul computes in float32 on torch."""
    pytest.importorskip("torch")
    for dtype in ("float32", "float64"):
        done = run_script(DENSE_ON_TORCH, dtype)
        assert done.returncode == 0, done.stderr[-2000:]
        fused, fused_error, own, own_error = done.stdout.split()[-4:]
        assert fused == "AddmmBackward0" and own == "AddBackward0"  # the shortcut is taken; the control is not it
        if dtype == "float32":
            assert float(fused_error) < 1e-6 and float(own_error) < 1e-6
        else:
            # The control's 1e-9 is Keras 3.15's float32 matmul on torch: if a Keras release computes float64 there,
            # this fails, and contract.py's float64 warning and docs/parity.md need the news too.
            assert float(fused_error) < 1e-14 < 1e-9 < float(own_error)


DENSE_FALLBACKS_ON_TORCH = """
import os
os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np, torch
import impl_keras.wgan as kw
rng = np.random.default_rng(0)
cases = [(dict(), (3, 5, 8), "float32"),                    # N-D input: addmm takes 2-D only
         (dict(), (5, 8), "float64"),                       # another dtype than the kernel's: Keras promotes
         (dict(use_bias=False), (5, 8), "float32"),          # no bias
         (dict(activation="relu"), (5, 8), "float32")]       # an activation
for kwargs, shape, dtype in cases:
    layer = kw.Dense(4, dtype="float32", **kwargs)
    layer.build((None, 8))
    x = torch.tensor(rng.normal(size=shape), dtype=getattr(torch, dtype), requires_grad=True)
    mine, keras_own = layer.call(x), keras.layers.Dense.call(layer, x)
    assert mine.grad_fn.name() != "AddmmBackward0", (kwargs, shape, dtype)
    assert torch.equal(mine, keras_own), (kwargs, shape, dtype)
print("fallbacks", len(cases))
"""


def test_dense_on_torch_falls_back_to_keras_own_call_where_addmm_does_not_fit():
    """fused_dense takes only a [B, in] input of the kernel's dtype, with a bias and no activation: anything else runs
    Keras' own Dense.call, with its results exactly."""
    pytest.importorskip("torch")
    done = run_script(DENSE_FALLBACKS_ON_TORCH)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["fallbacks", "4"]


# --- Keras on JAX's threads ---------------------------------------------------------------------------
JAX_THREADS_WITHOUT_TENSORFLOW = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
sys.modules["tensorflow"] = None  # as `.[keras-jax]` installs it: no TensorFlow
import impl_keras
for n in (1, 2, 4):
    impl_keras.set_threads(n)
    print(os.environ["NPROC"])
"""


def test_keras_on_jax_pins_its_threads_without_tensorflow():
    """set_threads sizes XLA's CPU pool (NPROC; tests/test_contract.py checks the cores used) and needs no
    TensorFlow, which `.[keras-jax]` does not install. n threads = n XLA workers (impl_keras/contract.py says
    why not n - 1)."""
    pytest.importorskip("jax")
    done = run_script(JAX_THREADS_WITHOUT_TENSORFLOW)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == ["1", "2", "4"]
