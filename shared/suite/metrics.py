"""Sample-quality metrics on NumPy arrays, the same in every framework's process.

    samples [N, 784] in [-1, 1] (MNIST, Fashion-MNIST: the generator's flattened tanh output)
    points  [N, 2]   in [-1, 1] (the 2-D toy sets)

Image sets are judged through a small CNN classifier. For MNIST its weights ship with the package
(shared/suite/classifier-mnist.npz, float16, 0.45 MB): trained once with PyTorch by `wgan-suite classifier
--retrain`, checked at load against the sha256 and test accuracy recorded in SHIPPED below, so every
user scores samples with the same network and FD values stay comparable between machines (the same
training recipe gave test accuracy 0.9904 on one CPU and 0.9900 on another). On first use the test
split's features are computed with NumPy and cached in <cache_dir>/classifier-mnist-<sha12>.npz.
Fashion-MNIST has no shipped weights yet: it is trained with PyTorch on first use and cached in
<cache_dir>/classifier-fashion-mnist.npz. Inference is pure NumPy (im2col + matmul in float32), so
MNIST metrics need neither torch nor any other framework.

    evaluate(samples, dataset)        everything that applies to `dataset`, as {name: number}
    fd_to_test(samples)               Frechet distance of classifier features to the test split's
    class_coverage(samples)           classes holding >= 5% of the samples, KL(histogram || uniform)
    inception_like_score(samples)     exp(E_x KL(p(y|x) || p(y))), 1 (one class) .. 10 (all, confidently)
    wasserstein1(a, b)                exact W1 (optimal transport, Euclidean cost) on points or features
    toy_mode_metrics(points, name)    modes hit and high-quality share for 8gaussians / 25gaussians

Measured floors (real data) and ceilings (one class, uniform noise) are the constants below, with the
commands that measured them in docs/metrics.md; `python -m shared.suite.metrics` measures them again.
A cache file that cannot be read gives a one-line UserError telling the user to delete it: it is never
deleted or overwritten behind the user's back.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from shared.core.data import (DATASETS, IMAGE_DATASETS, N_CLASSES, OFFICIAL_SHA256, PRETTY, SIDE, SPLITS, TOY_DATASETS,
                         TOY_MODES, default_cache_dir, load_dataset, toy_dataset)
from shared.core.errors import UserError

# --- measured floors and ceilings (docs/metrics.md; re-measure with `python -m shared.suite.metrics`) ------
# MNIST, with the shipped classifier (trained with torch 2.13.0 CPU on an AMD EPYC, seed 0, stored in float16,
# test accuracy 0.9900; the per-user classifier of earlier versions had 0.9904 and FD 1.918 / 792.6 / 1223), against
# the 10,000 test images. Real = 10,000 training images (seeded choice); one digit = all ~6,000 training
# images of one digit, the value of the digit MOST favourable to a collapsed generator (lowest FD / KL / W1,
# highest IS); noise = 10,000 images uniform in [-1, 1]. W1 is on 2,000 vs 2,000 points (evaluate's default).
# FD does NOT rank noise below one digit: noise (1216) lands inside the one-digit range (804 for 8 .. 1399
# for 6); class_kl and the inception score do (noise falls into one class, with even less confidence).
FD_REAL_VS_REAL = 1.900
FD_REAL_VS_REAL_2K = 3.008            # 2,000 training images: FD is biased upwards at small N
FD_ONE_DIGIT = 804.5                  # digit 8; the highest is 1399 (digit 6)
FD_UNIFORM_NOISE = 1216.0
CLASS_KL_REAL = 0.0016                # ln 10 = 2.303 is everything in one class
CLASS_KL_ONE_DIGIT = 2.213            # digit 5
CLASS_KL_UNIFORM_NOISE = 2.303
IS_REAL = 9.566
IS_ONE_DIGIT = 1.099                  # digit 5
IS_UNIFORM_NOISE = 1.004
W1_FEATURES_REAL = 11.90              # large for real data: 2,000 points do not fill 128 dimensions
W1_FEATURES_ONE_DIGIT = 32.19         # digit 8
W1_FEATURES_UNIFORM_NOISE = 35.48
# Toys: W1 of 2,000 points to evaluate's 2,000 fresh real points. Real = toy_dataset(name, 2000, seed=1);
# one mode = 2,000 points from mode 0's Gaussian; noise = 2,000 points uniform over [-1, 1]^2.
W1_TOY_REAL = {"8gaussians": 0.02658, "25gaussians": 0.03075, "swissroll": 0.02688}
W1_TOY_ONE_MODE = {"8gaussians": 0.927, "25gaussians": 1.261}
W1_TOY_UNIFORM_NOISE = {"8gaussians": 0.2636, "25gaussians": 0.1306, "swissroll": 0.2715}
# The same, by dataset -> metric -> reference set, for reports that print a metric next to its range.
REFERENCE: dict[str, dict[str, dict[str, float]]] = {
    "mnist": {"fd": {"real": FD_REAL_VS_REAL, "one digit": FD_ONE_DIGIT, "uniform noise": FD_UNIFORM_NOISE},
              "class_kl": {"real": CLASS_KL_REAL, "one digit": CLASS_KL_ONE_DIGIT,
                           "uniform noise": CLASS_KL_UNIFORM_NOISE},
              "inception_score": {"real": IS_REAL, "one digit": IS_ONE_DIGIT, "uniform noise": IS_UNIFORM_NOISE},
              "w1_features": {"real": W1_FEATURES_REAL, "one digit": W1_FEATURES_ONE_DIGIT,
                              "uniform noise": W1_FEATURES_UNIFORM_NOISE}},
    **{name: {"w1": {"real": W1_TOY_REAL[name], **({"one mode": W1_TOY_ONE_MODE[name]} if name in W1_TOY_ONE_MODE
                                                   else {}), "uniform noise": W1_TOY_UNIFORM_NOISE[name]}}
       for name in TOY_DATASETS},
}

# --- settings -----------------------------------------------------------------------------------------
CLASSIFIER_VERSION = 1          # bump when the architecture or the cache layout changes
# Shipped weights: file next to this module, sha256 of the weights (weights_sha256(): names, dtypes,
# shapes and bytes, so rewriting the same weights gives the same checksum) and the test accuracy the NumPy
# inference measured with them. `wgan-suite classifier --retrain` prints the values for a new file.
SHIPPED = {"mnist": {"file": "classifier-mnist.npz",
                     "weights_sha256": "60c8d039c855f1880777190e8380e33e36aea7f2e353a30a809eaaadf5103d32",
                     "accuracy": 0.9900}}
SHIPPED_FORMAT = 1
# float16: half the size of float32; FD moved by at most 2e-5 relative on the reference sets (measured:
# real 1.90007 -> 1.90006, noise 1216.255 -> 1216.251, digit 6 1398.52 -> 1398.55), accuracy unchanged.
SHIPPED_DTYPE = np.float16
# Another BLAS may sum in another order and flip a near-tie: allow 5 of the 10,000 test images.
ACCURACY_SLACK = 5e-4
CLASSIFIER_SEED = 0
CLASSIFIER_EPOCHS = 3
CLASSIFIER_BATCH = 128
CLASSIFIER_LR = 1e-3
FEATURE_DIM = 128               # width of the penultimate (feature) layer
# Minimum test accuracy a freshly trained classifier must reach before it is cached. MNIST: the project's
# requirement (measured 0.9900 with the shipped weights, 0.9904 on another CPU). Fashion-MNIST is harder; 0.88 is an estimate for a CNN this size, NOT
# measured here (no Fashion-MNIST on the machine that wrote this), and it has no reference constants yet.
MIN_ACCURACY = {"mnist": 0.985, "fashion-mnist": 0.88}
INFERENCE_BATCH = 64            # the conv-2 patch matrix (batch*121*288 float32, 9 MB) stays in cache: 2,000
                                # samples score 1.5x faster than in batches of 500 (70 MB) on a 2-core Zen 5
COVERED_SHARE = 0.05            # a class is "covered" when it holds at least 5% of the samples
W1_MAX_POINTS = 2000            # exact OT is O(n^3); 2,000 per side takes about a second
W1_SEED = 0
TOY_REAL_SEED = 2               # evaluate's fresh real points (the train split is seed 0, test seed 1)
HQ_STDS = 3.0                   # "high quality": within 3 standard deviations of the nearest mode
# A mode is "hit" when its high-quality points are at least this fraction of an even share (N / modes).
# The 3-std notion of a high-quality sample follows VEEGAN (Srivastava et al. 2017). Counting a mode as
# covered by a SINGLE such point lets uniform noise pass once N is in the thousands (8gaussians: 0.64%
# of the square lies within 3 std of each mode, 13 points of 2,000). A fifth of the even share (2.5% of
# N for 8 modes, 0.8% for 25) is 3.9x (25gaussians 2.8x) what noise puts there, and 5x below what a
# real mode gets, so a mode the generator merely grazes is not counted.
MODE_HIT_FRACTION = 0.2
RANGE_SLACK = 0.01              # samples come from tanh: |x| <= 1 (+ rounding); 0..255 pixels are a mistake

_POT_BACKENDS = {"torch": "POT_BACKEND_DISABLE_PYTORCH", "jax": "POT_BACKEND_DISABLE_JAX",
                 "cupy": "POT_BACKEND_DISABLE_CUPY", "tensorflow": "POT_BACKEND_DISABLE_TENSORFLOW"}
# torch state_dict names of _torch_net()'s layers -> names in the cache file.
_TORCH_NAMES = {"0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2"}
_SHAPES = {"conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,), "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,),
           "fc1.weight": (FEATURE_DIM, 64 * 5 * 5), "fc1.bias": (FEATURE_DIM,), "fc2.weight": (N_CLASSES, FEATURE_DIM),
           "fc2.bias": (N_CLASSES,)}


# --- input checks ---------------------------------------------------------------------------------

def _check_dataset(dataset: str, allowed: tuple[str, ...] = DATASETS) -> None:
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset not in allowed:
        raise UserError(f"{dataset} is not supported here; choose one of {', '.join(allowed)}")


def _as_points(x: Any, what: str, dim: int | None = None, min_n: int = 1, unit_range: bool = False) -> np.ndarray:
    """x as a finite float array [N, dim] (dim None: any width); one-line UserError otherwise."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{what} are not an array ({exc}); fix: pass a NumPy array [N, D]") from None
    if arr.dtype.kind not in "fiub":
        raise UserError(f"{what} have dtype {arr.dtype}; fix: pass numbers, a float array [N, D]")
    width = "D" if dim is None else str(dim)
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        flat = " (flatten images with x.reshape(len(x), -1))" if dim == SIDE * SIDE else ""
        raise UserError(f"{what} have shape {arr.shape}, expected [N, {width}]; fix: pass a 2-D array{flat}")
    if arr.shape[0] < min_n:
        raise UserError(f"{what} hold {arr.shape[0]} rows, at least {min_n} are needed; fix: pass more samples")
    if arr.shape[1] < 1:
        raise UserError(f"{what} have no columns (shape {arr.shape}); fix: pass an array [N, D] with D >= 1")
    bad = int(np.count_nonzero(~np.isfinite(arr))) if arr.dtype.kind == "f" else 0
    if bad:
        raise UserError(f"{what} contain {bad} NaN or infinite values; fix: check the generator (has it diverged?)")
    if unit_range and arr.size and float(np.max(np.abs(arr))) > 1.0 + RANGE_SLACK:
        raise UserError(f"{what} reach {float(np.max(np.abs(arr))):.4g}, outside [-1, 1]; fix: pass samples scaled "
                        "like the data (x / 127.5 - 1 for 0..255 pixels, the generator's tanh output as it is)")
    return arr


def _as_samples(x: Any, dataset: str, min_n: int = 1) -> np.ndarray:
    """Samples of `dataset`: float32 [N, 784] within [-1, 1], or [N, 2] anywhere (a toy generator's linear
    output is unbounded; points far from the data simply score badly)."""
    image = dataset in IMAGE_DATASETS
    return _as_points(x, f"{dataset} samples", SIDE * SIDE if image else 2, min_n,
                      unit_range=image).astype(np.float32, copy=False)


# --- the classifier: NumPy inference ----------------------------------------------------------------

def _conv3x3(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """'valid' 3x3 convolution without bias by im2col: x [B, H, W, C], w [9*C, O] (rows ordered di, dj, c)
    -> [B, H-2, W-2, O]."""
    bsz, h, wid, c = x.shape
    ho, wo = h - 2, wid - 2
    # patches [B, ho, wo, 9, C]: the nine shifted views, in the (di, dj, c) order of w's rows. np.stack
    # beats concatenating along C: for C = 1 that copies one float at a time (3x slower).
    patches = np.stack([x[:, i:i + ho, j:j + wo, :] for i in range(3) for j in range(3)], axis=3)
    return (patches.reshape(-1, 9 * c) @ w).reshape(bsz, ho, wo, -1)


def _maxpool2(x: np.ndarray) -> np.ndarray:
    """2x2 max pool, stride 2, odd edge dropped (torch's default): [B, H, W, C] -> [B, H//2, W//2, C]."""
    # The max of four strided views: 3x faster than reshaping to [B, H/2, 2, W/2, 2, C] and reducing.
    x = x[:, :x.shape[1] // 2 * 2, :x.shape[2] // 2 * 2]
    return np.maximum(np.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]), np.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))


def _numpy_layout(torch_weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Torch-layout weights (as cached) -> float32 matrices for NHWC im2col inference."""
    t = {k: np.asarray(v, dtype=np.float32) for k, v in torch_weights.items()}
    # conv [O, C, kh, kw] -> [kh*kw*C, O]; fc1's inputs are torch's NCHW flatten (c, h, w), ours is (h, w, c).
    fc1 = t["fc1.weight"].reshape(FEATURE_DIM, 64, 5, 5).transpose(2, 3, 1, 0).reshape(64 * 25, FEATURE_DIM)
    return {"conv1.w": np.ascontiguousarray(t["conv1.weight"].transpose(2, 3, 1, 0).reshape(9, 32)),
            "conv1.b": t["conv1.bias"],
            "conv2.w": np.ascontiguousarray(t["conv2.weight"].transpose(2, 3, 1, 0).reshape(9 * 32, 64)),
            "conv2.b": t["conv2.bias"],
            "fc1.w": np.ascontiguousarray(fc1), "fc1.b": t["fc1.bias"],
            "fc2.w": np.ascontiguousarray(t["fc2.weight"].T), "fc2.b": t["fc2.bias"]}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)   # eq=False: comparing arrays with == is ambiguous
class Classifier:
    """The cached CNN: conv 1->32 3x3, relu, maxpool, conv 32->64 3x3, relu, maxpool, dense 1600->128,
    relu (the features), dense 128->10. Inputs: samples [N, 784] in [-1, 1], like the GAN's output."""

    dataset: str
    weights: dict[str, np.ndarray]   # torch layout, as cached (conv1.weight [32, 1, 3, 3], ...)
    accuracy: float                  # on the test split, measured with this NumPy inference
    data_sha256: str                 # Dataset.sha256 of the data it was trained and tested on
    test_mu: np.ndarray              # float64 [128]: mean of the test split's features
    test_sigma: np.ndarray           # float64 [128, 128]: their covariance
    test_features: np.ndarray        # float32 [M, 128]: the test split's features (for W1)
    info: dict[str, str]             # provenance: torch version, epochs, seed, training seconds
    path: Path | None                # the cache file (None if it could not be written)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_np", _numpy_layout(self.weights))

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch [B, 784] float32 -> (features [B, 128], logits [B, 10])."""
        p: dict[str, np.ndarray] = self._np  # type: ignore[attr-defined]
        # Bias and ReLU after the pool: a per-channel constant and a monotone function commute with max
        # (exactly, in floating point too), and the pooled tensor is 4x smaller.
        h = x.reshape(-1, SIDE, SIDE, 1)
        h = np.maximum(_maxpool2(_conv3x3(h, p["conv1.w"])) + p["conv1.b"], 0)   # [B, 13, 13, 32]
        h = np.maximum(_maxpool2(_conv3x3(h, p["conv2.w"])) + p["conv2.b"], 0)   # [B, 5, 5, 64]
        feats = np.maximum(h.reshape(len(x), -1) @ p["fc1.w"] + p["fc1.b"], 0)  # [B, 128]
        return feats, feats @ p["fc2.w"] + p["fc2.b"]

    def features_and_logits(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Samples [N, 784] in [-1, 1] -> (features float32 [N, 128], logits float32 [N, 10])."""
        x = _as_samples(x, self.dataset)
        feats = np.empty((len(x), FEATURE_DIM), np.float32)
        logits = np.empty((len(x), N_CLASSES), np.float32)
        for start in range(0, len(x), INFERENCE_BATCH):
            stop = start + INFERENCE_BATCH
            feats[start:stop], logits[start:stop] = self._forward(x[start:stop])
        return feats, logits

    def features(self, x: Any) -> np.ndarray:
        """[N, 784] -> float32 [N, 128], the penultimate layer (after its ReLU)."""
        return self.features_and_logits(x)[0]

    def probs(self, x: Any) -> np.ndarray:
        """[N, 784] -> float32 [N, 10], softmax class probabilities."""
        return _softmax(self.features_and_logits(x)[1])

    def predict(self, x: Any) -> np.ndarray:
        """[N, 784] -> int64 [N], the most likely class."""
        return self.features_and_logits(x)[1].argmax(axis=1)


# --- the classifier: training (PyTorch) and the cache ------------------------------------------------

def classifier_path(dataset: str = "mnist", cache_dir: Path | None = None) -> Path:
    """Where the classifier for `dataset` is cached: <cache_dir>/classifier-mnist-<sha12>.npz for shipped
    weights (a release with new weights uses a new file, never an old one), else classifier-<dataset>.npz."""
    _check_dataset(dataset, IMAGE_DATASETS)
    name = f"classifier-{dataset}-{SHIPPED[dataset]['weights_sha256'][:12]}" if dataset in SHIPPED else f"classifier-{dataset}"
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{name}.npz"


def shipped_path(dataset: str = "mnist") -> Path:
    """The shipped weights file of `dataset` (inside the installed package)."""
    _check_dataset(dataset, tuple(SHIPPED))
    return Path(__file__).with_name(SHIPPED[dataset]["file"])


def weights_sha256(weights: dict[str, np.ndarray]) -> str:
    """sha256 over each weight's name, dtype, shape and bytes, in name order (independent of the zip file)."""
    h = hashlib.sha256()
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_shipped(weights: dict[str, np.ndarray], info: dict[str, str], path: Path) -> str:
    """Write weights (rounded to SHIPPED_DTYPE) and their provenance to `path`; returns weights_sha256."""
    small = {k: np.asarray(weights[k]).astype(SHIPPED_DTYPE) for k in _SHAPES}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, format=np.array(SHIPPED_FORMAT), **{f"w.{k}": v for k, v in small.items()},
                                **{f"info.{k}": np.array(str(v)) for k, v in info.items()})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return weights_sha256(small)


def read_shipped(dataset: str, path: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(float32 weights, provenance) from the shipped file, after checking them against SHIPPED's sha256."""
    path = path or shipped_path(dataset)
    fix = "fix: reinstall the package (pip install -e .), or regenerate it with `wgan-suite classifier --retrain`"
    try:
        with np.load(path, allow_pickle=False) as npz:
            weights = {k: npz[f"w.{k}"] for k in _SHAPES}
            info = {k[len("info."):]: str(npz[k]) for k in npz.files if k.startswith("info.")}
    except FileNotFoundError:
        raise UserError(f"the shipped {PRETTY[dataset]} classifier {path} is missing; {fix}") from None
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the shipped {PRETTY[dataset]} classifier {path} is unreadable ({detail}); {fix}") from None
    sha = weights_sha256(weights)
    if sha != SHIPPED[dataset]["weights_sha256"]:
        raise UserError(f"the shipped {PRETTY[dataset]} classifier {path} has weights sha256 {sha[:12]}..., expected "
                        f"{SHIPPED[dataset]['weights_sha256'][:12]}... (shared/suite/metrics.py SHIPPED); {fix}")
    return {k: v.astype(np.float32) for k, v in weights.items()}, info


def expected_data_sha256(dataset: str) -> str:
    """Dataset.sha256 of the full official `dataset`, from the payload checksums in shared.core.data."""
    # The same formula as shared.core.data._fingerprint (tests check they agree): sha256 of the hex digests.
    return hashlib.sha256("".join(OFFICIAL_SHA256[dataset][s] for s in SPLITS).encode()).hexdigest()


def _torch_net() -> Any:
    """The classifier as a torch.nn.Sequential (state_dict keys "0.weight" ... "9.bias", see _TORCH_NAMES)."""
    from torch import nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),        # [B, 32, 13, 13]
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),       # [B, 64, 5, 5]
                         nn.Flatten(), nn.Linear(64 * 5 * 5, FEATURE_DIM), nn.ReLU(),  # features [B, 128]
                         nn.Linear(FEATURE_DIM, N_CLASSES))


def torch_model(classifier: Classifier) -> Any:
    """A torch.nn.Sequential holding `classifier`'s weights (eval mode), e.g. to check the NumPy inference."""
    import torch
    net = _torch_net()
    by_name = {f"{idx}.{kind}": torch.from_numpy(np.array(classifier.weights[f"{name}.{kind}"], np.float32))
               for idx, name in _TORCH_NAMES.items() for kind in ("weight", "bias")}
    net.load_state_dict(by_name)
    return net.eval()


def _train_torch(dataset: str, x: np.ndarray, y: np.ndarray, quiet: bool,
                 epochs: int = CLASSIFIER_EPOCHS) -> tuple[dict[str, np.ndarray], float]:
    """Train on x [N, 784] in [-1, 1], y [N]; returns (torch-layout weights, seconds). Same result every time."""
    import torch
    from tqdm import tqdm

    threads = torch.get_num_threads()
    # Two threads while training, whatever this process pinned (the PyTorch tests pin one); restored afterwards.
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        torch.manual_seed(CLASSIFIER_SEED)
        net = _torch_net()
        opt = torch.optim.Adam(net.parameters(), lr=CLASSIFIER_LR)
        order = np.random.Generator(np.random.PCG64(CLASSIFIER_SEED))   # the data order: same every time
        images = torch.from_numpy(np.ascontiguousarray(x, np.float32).reshape(-1, 1, SIDE, SIDE))
        labels = torch.from_numpy(np.asarray(y, np.int64))
        steps = math.ceil(len(x) / CLASSIFIER_BATCH)
        start = time.perf_counter()
        with tqdm(total=epochs * steps, desc=f"training the {PRETTY[dataset]} classifier (once)",
                  unit="step", disable=quiet, file=sys.stderr) as bar:
            for _ in range(epochs):
                perm = torch.from_numpy(order.permutation(len(x)))
                for i in range(steps):
                    idx = perm[i * CLASSIFIER_BATCH:(i + 1) * CLASSIFIER_BATCH]
                    loss = torch.nn.functional.cross_entropy(net(images[idx]), labels[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    bar.update()
                    if i % 50 == 0:
                        bar.set_postfix(loss=f"{loss.item():.3f}")
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    state = net.state_dict()
    weights = {f"{name}.{kind}": state[f"{idx}.{kind}"].detach().numpy().copy()
               for idx, name in _TORCH_NAMES.items() for kind in ("weight", "bias")}
    return weights, seconds


def _feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features [N, F] -> (mean float64 [F], covariance float64 [F, F])."""
    f = np.asarray(feats, np.float64)
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _full_data(dataset: str, quiet: bool, why: str):
    data = load_dataset(dataset, quiet=quiet)
    if data.subset:
        raise UserError(f"the {PRETTY[dataset]} classifier must be {why} on the full set, only a subset was found "
                        f"({data.source}); fix: make the full set available (see `wgan-suite data info`)")
    return data


def _test_split_classifier(dataset: str, weights: dict[str, np.ndarray], info: dict[str, str], data,
                           path: Path | None) -> Classifier:
    """The classifier with its test accuracy and test-split feature statistics measured by the NumPy path."""
    provisional = Classifier(dataset, weights, float("nan"), data.sha256, np.zeros(FEATURE_DIM),
                             np.eye(FEATURE_DIM), np.zeros((0, FEATURE_DIM), np.float32), info, None)
    feats, logits = provisional.features_and_logits(data.test_x)   # the NumPy path: what metrics will use
    accuracy = float(np.mean(logits.argmax(axis=1) == data.test_y))
    mu, sigma = _feature_stats(feats)
    return Classifier(dataset, weights, accuracy, data.sha256, mu, sigma, feats, info, path)


def _cache(clf: Classifier, path: Path) -> Classifier:
    try:
        _save(clf, path)
        return clf
    except OSError as exc:   # a read-only cache must not stop an evaluation; it only costs a recomputation
        print(f"wgan-suite: could not cache the classifier at {path} ({exc})", file=sys.stderr)
        return dataclass_replace(clf, path=None)


def _from_shipped(dataset: str, path: Path, quiet: bool) -> Classifier:
    """The shipped weights, checked (sha256, then test accuracy on the official test split), and cached."""
    start = time.perf_counter()
    if not quiet:
        print(f"wgan-suite: first use of the shipped {PRETTY[dataset]} classifier: checking it and computing the test "
              "split's features (a few seconds, once)", file=sys.stderr)
    weights, info = read_shipped(dataset)
    data = _full_data(dataset, quiet, "checked")
    if data.sha256 != expected_data_sha256(dataset):
        raise UserError(f"the {PRETTY[dataset]} found ({data.source}) is not the official set (sha256 "
                        f"{data.sha256[:12]}...), so the shipped classifier cannot be checked against it; fix: "
                        "pass the official files with --data-dir or delete the cached copy")
    clf = _test_split_classifier(dataset, weights, {**info, "weights_sha256": SHIPPED[dataset]["weights_sha256"]},
                                 data, path)
    expected = SHIPPED[dataset]["accuracy"]
    if abs(clf.accuracy - expected) > ACCURACY_SLACK:
        raise UserError(f"the shipped {PRETTY[dataset]} classifier scores test accuracy {clf.accuracy:.4f} here, "
                        f"{expected:.4f} when it was shipped: the NumPy inference or the data differ; fix: report it "
                        "with `wgan-suite data info` and numpy's version")
    clf = _cache(clf, path)
    if not quiet:
        print(f"wgan-suite: {PRETTY[dataset]} classifier ready in {time.perf_counter() - start:.0f} s (weights sha256 "
              f"{SHIPPED[dataset]['weights_sha256'][:12]}..., test accuracy {clf.accuracy:.4f}), cached at "
              f"{clf.path or 'nowhere'}", file=sys.stderr)
    return clf


def train_weights(dataset: str, quiet: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str], Any]:
    """Train the classifier with PyTorch (the recipe above): (torch-layout weights, provenance, the data)."""
    try:
        import torch
    except ImportError:
        raise UserError(f"training the {PRETTY[dataset]} classifier needs torch, which is not installed; fix: pip "
                        "install torch==2.13.0") from None
    data = _full_data(dataset, quiet, "trained")
    weights, seconds = _train_torch(dataset, data.train_x, data.train_y, quiet)
    import platform
    from shared.core.machine import cpu_model
    info = {"torch": str(torch.__version__), "seed": str(CLASSIFIER_SEED), "epochs": str(CLASSIFIER_EPOCHS),
            "train_seconds": f"{seconds:.1f}", "source": data.source, "data_sha256": data.sha256,
            "machine": f"{platform.machine()} {cpu_model()}", "trained": time.strftime("%Y-%m-%d")}
    return weights, info, data


def retrain_shipped(dataset: str, out: Path | None = None, quiet: bool = False) -> tuple[Path, str, float]:
    """`wgan-suite classifier --retrain`: train, round to SHIPPED_DTYPE, measure the test accuracy with the
    NumPy inference and write the shipped-format file. Returns (path, weights_sha256, accuracy)."""
    _check_dataset(dataset, IMAGE_DATASETS)
    weights, info, data = train_weights(dataset, quiet)
    rounded = {k: v.astype(SHIPPED_DTYPE).astype(np.float32) for k, v in weights.items()}
    accuracy = _test_split_classifier(dataset, rounded, info, data, None).accuracy
    if accuracy < MIN_ACCURACY[dataset]:
        raise UserError(f"the retrained {PRETTY[dataset]} classifier reached test accuracy {accuracy:.4f} < required "
                        f"{MIN_ACCURACY[dataset]}; not written: the training recipe in shared/suite/metrics.py needs a look")
    path = Path(out) if out is not None else Path(__file__).with_name(f"classifier-{dataset}.npz")
    sha = write_shipped(weights, {**info, "accuracy": f"{accuracy:.4f}"}, path)
    return path, sha, accuracy


def _train_classifier(dataset: str, path: Path, quiet: bool) -> Classifier:
    """A dataset without shipped weights: train with PyTorch now, check the accuracy, cache."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError(f"no cached {PRETTY[dataset]} classifier at {path} and torch is not installed to train one; "
                        "fix: install torch (pip install torch==2.13.0) or copy the cached classifier file there") from None
    weights, info, data = train_weights(dataset, quiet)
    clf = _test_split_classifier(dataset, weights, info, data, path)
    if clf.accuracy < MIN_ACCURACY[dataset]:
        raise RuntimeError(f"the {PRETTY[dataset]} classifier reached test accuracy {clf.accuracy:.4f} < required "
                           f"{MIN_ACCURACY[dataset]} (torch {info['torch']}, seed {CLASSIFIER_SEED}); "
                           "not cached: the training recipe in shared/suite/metrics.py needs a look")
    clf = _cache(clf, path)
    if not quiet:
        print(f"wgan-suite: {PRETTY[dataset]} classifier trained in {info['train_seconds']} s, test accuracy "
              f"{clf.accuracy:.4f}, cached at {clf.path or 'nowhere'}", file=sys.stderr)
    return clf


def _save(clf: Classifier, path: Path) -> None:
    """Write the cache file atomically: a temp file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    arrays = {f"w.{k}": v for k, v in clf.weights.items()}
    arrays.update({f"info.{k}": np.array(v) for k, v in clf.info.items()})
    try:
        with open(tmp, "wb") as f:
            np.savez(f, version=np.array(CLASSIFIER_VERSION), dataset=np.array(clf.dataset),
                     accuracy=np.array(clf.accuracy), data_sha256=np.array(clf.data_sha256),
                     test_mu=clf.test_mu, test_sigma=clf.test_sigma, test_features=clf.test_features, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read(dataset: str, path: Path) -> Classifier:
    """The cached classifier; one-line UserError if the file is unreadable, stale or not for `dataset`."""
    fix = f"fix: delete {path}, the next use rebuilds it (MNIST: seconds; Fashion-MNIST: a minute of training with torch)"
    try:
        with np.load(path, allow_pickle=False) as npz:
            version = int(npz["version"])
            if version != CLASSIFIER_VERSION:
                raise UserError(f"{path} is a version-{version} classifier, this code reads version "
                                f"{CLASSIFIER_VERSION}; {fix}")
            weights = {k: npz[f"w.{k}"].astype(np.float32) for k in _SHAPES}
            info = {k[len("info."):]: str(npz[k]) for k in npz.files if k.startswith("info.")}
            name, accuracy, sha = str(npz["dataset"]), float(npz["accuracy"]), str(npz["data_sha256"])
            mu, sigma = npz["test_mu"].astype(np.float64), npz["test_sigma"].astype(np.float64)
            feats = npz["test_features"].astype(np.float32)
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the classifier cache {path} is corrupt or incomplete ({detail}); {fix}") from None
    shapes_ok = (all(weights[k].shape == shape for k, shape in _SHAPES.items()) and mu.shape == (FEATURE_DIM,)
                 and sigma.shape == (FEATURE_DIM, FEATURE_DIM) and feats.ndim == 2 and feats.shape[1] == FEATURE_DIM
                 and len(feats) >= 2)
    if not shapes_ok or not all(np.isfinite(w).all() for w in weights.values()):
        raise UserError(f"the classifier cache {path} holds arrays of the wrong shape or non-finite weights; {fix}")
    clf = Classifier(name, weights, accuracy, sha, mu, sigma, feats, info, path)
    if clf.dataset != dataset:
        raise UserError(f"{path} is a classifier for {clf.dataset}, not {dataset}; {fix}")
    if clf.data_sha256 != expected_data_sha256(dataset):
        raise UserError(f"{path} was trained on data other than the official {PRETTY[dataset]} "
                        f"(sha256 {clf.data_sha256[:12]}...); {fix}")
    if dataset in SHIPPED and clf.info.get("weights_sha256") != SHIPPED[dataset]["weights_sha256"]:
        raise UserError(f"{path} was not built from the shipped {PRETTY[dataset]} weights; {fix}")
    return clf


_LOADED: dict[tuple[str, str], Classifier] = {}   # (dataset, cache file) -> classifier, per process


def load_classifier(dataset: str = "mnist", *, cache_dir: Path | None = None, quiet: bool = False) -> Classifier:
    """The classifier for `dataset` ("mnist" or "fashion-mnist"): from this process's memory, else the cache
    file, else built from the shipped weights (MNIST: checked, test features computed, a few seconds) or trained
    now with PyTorch (Fashion-MNIST: about a minute on 2 cores) and cached. `cache_dir` defaults to
    shared.core.data.default_cache_dir() ($WGAN_SUITE_CACHE or ~/.cache/wgan-suite)."""
    path = classifier_path(dataset, cache_dir)
    key = (dataset, str(path.absolute()))
    if key not in _LOADED:
        if path.exists():
            _LOADED[key] = _read(dataset, path)
        elif dataset in SHIPPED:
            _LOADED[key] = _from_shipped(dataset, path, quiet)
        else:
            _LOADED[key] = _train_classifier(dataset, path, quiet)
    return _LOADED[key]


# --- image metrics ------------------------------------------------------------------------------------

def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^(1/2)) for covariances S1, S2 [F, F], by scipy's sqrtm (what FID implementations use)."""
    from scipy import linalg
    with warnings.catch_warnings():
        # ReLU features include units that never fire (48 of 128 on the MNIST test split), so both
        # covariances are singular and scipy warns. The square root of the singular product is still
        # accurate: its trace agrees with the eigenvalue route below to about 1e-8 relative.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        # Round-off leaves tiny imaginary parts: drop them. A large one means the square root failed.
        if np.isfinite(covmean).all() and np.max(np.abs(covmean.imag)) <= 1e-3 * max(1.0, np.max(np.abs(covmean.real))):
            covmean = covmean.real
    if np.isrealobj(covmean) and np.isfinite(covmean).all():
        return float(np.trace(covmean))
    # Fallback: S1 S2 is similar to the symmetric PSD matrix sqrt(S1) S2 sqrt(S1), so the trace of its
    # square root is the sum of the square roots of that matrix's (non-negative) eigenvalues.
    ev, vecs = np.linalg.eigh(sigma1)
    half = (vecs * np.sqrt(np.clip(ev, 0, None))) @ vecs.T
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(half @ sigma2 @ half), 0, None))))


def _fd_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Frechet distance of two Gaussians (>= 0)."""
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * _trace_sqrt_product(sigma1, sigma2)
    return float(max(0.0, fd))   # identical sets give -1e-12 by round-off


def frechet_distance(feats_a: Any, feats_b: Any) -> float:
    """FID's formula on two feature sets [N, F] and [M, F] (N, M >= 2): Gaussians fitted by mean and covariance."""
    a = _as_points(feats_a, "features a", min_n=2)
    b = _as_points(feats_b, "features b", a.shape[1], min_n=2)
    return _fd_from_stats(*_feature_stats(a), *_feature_stats(b))


def fd_to_test(samples: Any, dataset: str = "mnist") -> float:
    """Frechet distance between the classifier features of samples [N, 784] (N >= 2) and of the test split.
    Biased upwards at small N: compare numbers measured with the same N (FD_REAL_VS_REAL is at 10,000)."""
    _check_dataset(dataset, IMAGE_DATASETS)
    x = _as_samples(samples, dataset, min_n=2)
    clf = load_classifier(dataset)
    return _fd_from_stats(*_feature_stats(clf.features(x)), clf.test_mu, clf.test_sigma)


class Coverage(NamedTuple):
    classes_covered: int     # classes predicted for at least COVERED_SHARE of the samples
    class_kl: float          # KL(predicted-class histogram || uniform), 0 (even) .. ln 10 = 2.30 (one class)
    shares: np.ndarray       # float64 [10]: the histogram, summing to 1


def _coverage_from_logits(logits: np.ndarray) -> Coverage:
    shares = np.bincount(logits.argmax(axis=1), minlength=N_CLASSES) / len(logits)
    nonzero = shares[shares > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * N_CLASSES)))   # 0 log 0 = 0
    return Coverage(int(np.sum(shares >= COVERED_SHARE)), max(0.0, kl), shares)


def class_coverage(samples: Any, dataset: str = "mnist") -> Coverage:
    """The classifier's predicted-class histogram of samples [N, 784]: classes covered and KL to uniform."""
    _check_dataset(dataset, IMAGE_DATASETS)
    return _coverage_from_logits(load_classifier(dataset).features_and_logits(samples)[1])


def _is_from_logits(logits: np.ndarray) -> float:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))        # log p(y|x) [N, 10]
    log_py = np.log(np.exp(log_p).mean(axis=0))                      # log p(y) [10]
    kl = np.sum(np.exp(log_p) * (log_p - log_py), axis=1)            # KL(p(y|x) || p(y)) [N]
    return float(np.exp(kl.mean()))


def inception_like_score(samples: Any, dataset: str = "mnist") -> float:
    """exp(E_x KL(p(y|x) || p(y))) with the classifier's probabilities, over all samples in one split:
    1 for one class (or no confident class), up to 10 for confident, evenly spread classes."""
    _check_dataset(dataset, IMAGE_DATASETS)
    return _is_from_logits(load_classifier(dataset).features_and_logits(samples)[1])


# --- optimal transport -------------------------------------------------------------------------------

def _import_ot() -> Any:
    """POT without the frameworks it would import for its backends (tensorflow alone takes ~8 s): a
    framework not already loaded in this process is switched off, only for this import."""
    if "ot" in sys.modules:
        return sys.modules["ot"]
    saved = {key: os.environ.get(key) for key in _POT_BACKENDS.values()}
    try:
        for module, key in _POT_BACKENDS.items():
            if module not in sys.modules:
                os.environ[key] = "1"
        return importlib.import_module("ot")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _subsample(x: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) <= max_points:
        return x
    return x[np.sort(rng.choice(len(x), size=max_points, replace=False))]


def wasserstein1(a: Any, b: Any, max_points: int = W1_MAX_POINTS, seed: int = W1_SEED) -> float:
    """Exact W1 between point clouds a [N, D] and b [M, D] (uniform weights, Euclidean cost, ot.emd2).
    Each side is first cut to at most max_points by a seeded choice, so the result is deterministic."""
    if max_points < 1:
        raise UserError(f"max_points must be >= 1, got {max_points}")
    pa = _as_points(a, "points a")
    pb = _as_points(b, "points b", pa.shape[1])
    rng = np.random.Generator(np.random.PCG64(seed))
    pa = _subsample(pa, max_points, rng).astype(np.float64)
    pb = _subsample(pb, max_points, rng).astype(np.float64)
    from scipy.spatial.distance import cdist
    # cost [n, m]. Not ot.dist(metric="euclidean"): it expands |x|^2 + |y|^2 - 2 x.y, whose round-off
    # under the square root gives 6e-7 for two identical points; cdist is exact there, and twice as fast.
    cost = cdist(pa, pb, metric="euclidean")
    ot = _import_ot()
    # numItermax: the default (100,000) stops the network simplex early at a few thousand points.
    w1 = ot.emd2(np.full(len(pa), 1 / len(pa)), np.full(len(pb), 1 / len(pb)), cost, numItermax=10_000_000)
    return float(w1)


# --- toy sets -------------------------------------------------------------------------------------------

def toy_mode_metrics(points: Any, dataset: str) -> dict[str, float]:
    """Mode coverage of 2-D points [N, 2] for 8gaussians / 25gaussians (swissroll has no modes: UserError).

    Each point goes to its nearest mode centre; it is high quality when within HQ_STDS (3) standard
    deviations of it (a real point is with probability 1 - exp(-9/2) = 0.989). A mode is hit when its
    high-quality points number at least MODE_HIT_FRACTION (a fifth) of an even share N / modes.
    Returns modes_hit, modes_total, high_quality_share.
    """
    _check_dataset(dataset, tuple(TOY_MODES))
    x = _as_samples(points, dataset).astype(np.float64)
    centres, std = TOY_MODES[dataset]
    dist = np.linalg.norm(x[:, None, :] - centres[None, :, :], axis=2)   # [N, K]
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(x)), nearest] <= HQ_STDS * std
    per_mode = np.bincount(nearest[good], minlength=len(centres))
    needed = max(1.0, MODE_HIT_FRACTION * len(x) / len(centres))
    return {"modes_hit": int(np.sum(per_mode >= needed)), "modes_total": len(centres),
            "high_quality_share": float(good.mean())}


# --- everything at once ---------------------------------------------------------------------------------

def prepare_metrics(dataset: str) -> None:
    """Load what evaluate() needs for `dataset` now (an image set's classifier is trained and cached on
    first use), so a failure or the one-time training happens before any run starts; toys need nothing."""
    if dataset in IMAGE_DATASETS:
        load_classifier(dataset)


def evaluate(samples: Any, dataset: str, max_points: int = W1_MAX_POINTS, feature_w1: bool = True) -> dict[str, float]:
    """Every metric that applies to `dataset`, in one pass of the classifier.

    MNIST / Fashion-MNIST (samples [N, 784], N >= 2): fd, classes_covered, class_kl, inception_score,
    w1_features (W1 of classifier features to the test split's, max_points per side; exact optimal transport
    takes ~1.3 s at 2,000 a side, three quarters of the whole call: feature_w1=False leaves it out).
    8gaussians / 25gaussians (points [N, 2]): w1 (to max_points fresh real points), modes_hit, modes_total,
    high_quality_share. swissroll: w1 only.
    """
    _check_dataset(dataset)
    if max_points < 1:
        raise UserError(f"max_points must be >= 1, got {max_points}")
    if dataset in IMAGE_DATASETS:
        x = _as_samples(samples, dataset, min_n=2)
        clf = load_classifier(dataset)
        feats, logits = clf.features_and_logits(x)
        coverage = _coverage_from_logits(logits)
        out = {"fd": _fd_from_stats(*_feature_stats(feats), clf.test_mu, clf.test_sigma),
               "classes_covered": coverage.classes_covered, "class_kl": coverage.class_kl,
               "inception_score": _is_from_logits(logits)}
        if feature_w1:
            out["w1_features"] = wasserstein1(feats, clf.test_features, max_points)
        return out
    x = _as_samples(samples, dataset)
    real, _ = toy_dataset(dataset, max_points, seed=TOY_REAL_SEED)
    out: dict[str, float] = {"w1": wasserstein1(x, real, max_points)}
    if dataset in TOY_MODES:
        out.update(toy_mode_metrics(x, dataset))
    return out


# --- measuring the floors and ceilings (docs/metrics.md) -------------------------------------------------

def reference_values(dataset: str = "mnist", n: int = 10_000, seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """(label, evaluate(...)) for real data, one class/mode at a time and uniform noise: the numbers behind
    the constants at the top of this module. Images: n training samples vs the test split."""
    _check_dataset(dataset)
    rng = np.random.Generator(np.random.PCG64(seed))
    rows: list[tuple[str, dict[str, float]]] = []
    if dataset in IMAGE_DATASETS:
        data = load_dataset(dataset, quiet=True)
        for size in sorted({n, W1_MAX_POINTS}, reverse=True):
            pick = np.sort(rng.choice(len(data.train_x), size=size, replace=False))
            rows.append((f"real ({size:,} train)", evaluate(data.train_x[pick], dataset)))
        for c in range(N_CLASSES):
            rows.append((f"class {c} only ({int(np.sum(data.train_y == c)):,} train)",
                         evaluate(data.train_x[data.train_y == c], dataset)))
        rows.append((f"uniform noise ({n:,})", evaluate(rng.uniform(-1, 1, (n, SIDE * SIDE)), dataset)))
        return rows
    real, _ = toy_dataset(dataset, W1_MAX_POINTS, seed=1)
    rows.append((f"real ({W1_MAX_POINTS:,}, test seed)", evaluate(real, dataset)))
    if dataset in TOY_MODES:
        centres, std = TOY_MODES[dataset]
        one = centres[0] + std * rng.standard_normal((W1_MAX_POINTS, 2))
        rows.append((f"all at mode 0 ({W1_MAX_POINTS:,})", evaluate(np.clip(one, -1, 1), dataset)))
    rows.append((f"uniform noise ({W1_MAX_POINTS:,})", evaluate(rng.uniform(-1, 1, (W1_MAX_POINTS, 2)), dataset)))
    return rows


def _print_reference_table(datasets: tuple[str, ...], log: Callable[[str], None] = print) -> None:
    for dataset in datasets:
        start = time.perf_counter()
        rows = reference_values(dataset)
        keys = list(rows[0][1])
        log(f"\n{dataset} ({time.perf_counter() - start:.0f} s)")
        log(f"{'':32s}" + "".join(f"{k:>20s}" for k in keys))
        for label, values in rows:
            log(f"{label:32s}" + "".join(f"{values[k]:>20.4g}" for k in keys))


if __name__ == "__main__":   # python -m shared.suite.metrics [dataset ...]: the table in docs/metrics.md
    _print_reference_table(tuple(sys.argv[1:]) or ("mnist",) + TOY_DATASETS)
