"""Loaders of reparam.data: IDX / amat readers, the four image data sets, dynamic binarization.

The loader tests write their own tiny IDX and amat files into tmp_path; the checks on the
real files in shared/data skip when those files are absent.
"""

import gzip
import math

import numpy as np
import pytest
import torch

from reparam.data import (
    DATASETS,
    ImageData,
    default_data_dir,
    dynamic_binarize,
    load_images,
    read_amat,
    read_idx,
)
from reparam.data import images as images_module

# ---------------------------------------------------------------------------- file writers

_IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i4"): 0x0C, np.dtype("f4"): 0x0D}


def idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz):
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def fake_idx_set(directory, n_train=30, n_test=7, rows=5, cols=4, gz=False):
    """IDX files whose image i has pixel [0, 0] = i (train) or 100 + i (test) and label i % 10,
    so each loaded image tells which file row it came from."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        pixels = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
        pixels[:, 0, 0] = np.arange(n) + offset
        labels = (np.arange(n) % 10).astype(np.uint8)
        write(directory / f"{prefix}-images-idx3-ubyte", idx_bytes(pixels), gz)
        write(directory / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
    return directory


def amat_text(pixels, sep=" ", newline="\n"):
    return "".join(sep.join(str(v) for v in row) + newline for row in pixels)


def fake_binarized_set(directory, sizes=(6, 3, 2), gz=False):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        arrays[split] = rng.integers(0, 2, size=(n, 784), dtype=np.uint8)
        text = amat_text(arrays[split]).encode()
        write(directory / f"binarized_mnist_{split}.amat", text, gz)
    return arrays


def row_ids(images):
    """The id written into pixel [0, 0] of each image by fake_idx_set."""
    return [round(v) for v in (images[:, 0, 0, 0] * 255).tolist()]


# ---------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([5, 0, 4, 1, 9], dtype=np.uint8),
        np.array([[-70000, 3], [1, 2**30]], dtype=np.int32),
        np.array([0.5, -1.25], dtype=np.float32),
    ],
)
def test_read_idx_round_trip(tmp_path, array, gz):
    path = write(tmp_path / "x-idx-ubyte", idx_bytes(array), gz)
    out = read_idx(path)
    assert out.dtype == array.dtype
    assert out.dtype.isnative
    assert out.flags.writeable
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "wrong magic number"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "wrong magic number"),  # unknown type code
        (b"\x00\x00\x08\x00", "wrong magic number"),  # zero dimensions
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header"),  # header cut short
        (idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((3, 2, 2), np.uint8)) + b"\x00", "trailing bytes"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_malformed_files(tmp_path, data, problem, gz):
    path = write(tmp_path / "bad-idx3-ubyte", data, gz)
    with pytest.raises(ValueError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "IDX file" in str(info.value)


def test_read_idx_checks_the_number_of_dimensions(tmp_path):
    path = write(tmp_path / "x-idx2-ubyte", idx_bytes(np.zeros((3, 4), np.uint8)), False)
    with pytest.raises(ValueError, match="2 dimensions, 3 are required") as info:
        read_idx(path, ndim=3)
    assert str(path) in str(info.value)


def test_read_idx_rejects_a_truncated_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "IDX file" in str(info.value)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nothing-idx3-ubyte"
    with pytest.raises(FileNotFoundError, match="--data-dir") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------- read_amat


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("sep", "newline", "final_newline"),
    [(" ", "\n", True), (" ", "\n", False), ("  ", "\n", True), (" ", " \r\n", True)],
)
def test_read_amat_layouts(tmp_path, gz, sep, newline, final_newline):
    pixels = np.random.default_rng(0).integers(0, 2, size=(5, 7), dtype=np.uint8)
    text = amat_text(pixels, sep, newline)
    if not final_newline:
        text = text.rstrip("\r\n ")
    path = write(tmp_path / "x.amat", text.encode(), gz)
    out = read_amat(path, columns=7)
    assert out.dtype == np.uint8
    assert out.flags.writeable
    np.testing.assert_array_equal(out, pixels)
    np.testing.assert_array_equal(read_amat(path), pixels)  # width from the first line


def test_read_amat_accepts_float_notation(tmp_path):
    path = write(tmp_path / "x.amat", b"0.0 1.0\n1 0\n", False)
    np.testing.assert_array_equal(read_amat(path), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("text", "columns", "problem"),
    [
        ("0 1 1\n1 0\n", None, "line 2 has 2 values, 3 expected"),
        ("0 1 1\n1 0 1\n", 4, "line 1 has 3 values, 4 expected"),
        ("0 1 1\n1 2 1\n", None, "line 2 holds the value '2'"),
        ("0 1 1\n\n1 0 0.5\n", None, "line 3 holds the value '0.5'"),
        ("0 1 x\n", None, "line 1 holds the value 'x'"),
        ("\n  \n", None, "no values"),
        ("0 1 \xe9\n", None, "not a text file"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_amat_rejects_malformed_files(tmp_path, text, columns, problem, gz):
    path = write(tmp_path / "bad.amat", text.encode("latin-1"), gz)
    with pytest.raises(ValueError, match=problem) as info:
        read_amat(path, columns=columns)
    assert str(path) in str(info.value)
    assert ".amat text file" in str(info.value)


def test_read_amat_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        read_amat(tmp_path / "x.amat", columns=0)
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        read_amat(tmp_path / "x.amat")


# ---------------------------------------------------------------------------- MNIST-like IDX sets


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_loader_shapes_values_and_labels(tmp_path, name, gz):
    directory = fake_idx_set(tmp_path / "d", gz=gz)
    data = load_images(name, directory, valid_size=10, seed=3)
    assert isinstance(data, ImageData)
    assert data.name == name
    assert not data.binary
    assert data.shape == (1, 5, 4)
    assert data.train.shape == (20, 1, 5, 4)
    assert data.valid.shape == (10, 1, 5, 4)
    assert data.test.shape == (7, 1, 5, 4)
    for split in ("train", "valid", "test"):
        images, labels = getattr(data, split), getattr(data, f"{split}_labels")
        assert images.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert 0 <= images.min()
        assert images.max() <= 1
        ids = row_ids(images)
        assert ids == sorted(ids)  # splits keep file order
        assert labels.tolist() == [i % 10 for i in ids]  # each label stays with its image
    # values are the file's pixels / 255
    suffix = ".gz" if gz else ""
    raw = read_idx(directory / f"t10k-images-idx3-ubyte{suffix}")
    torch.testing.assert_close(data.test[:, 0], torch.from_numpy(raw).float() / 255)
    assert row_ids(data.test) == [100 + i for i in range(7)]


def test_idx_loader_split_is_seeded_and_disjoint(tmp_path):
    directory = fake_idx_set(tmp_path / "d", n_train=40)
    splits = {}
    for seed in (0, 0, 1):
        data = load_images("mnist", directory, valid_size=12, seed=seed)
        train, valid = row_ids(data.train), row_ids(data.valid)
        assert len(train) == 28
        assert len(valid) == 12
        assert not set(train) & set(valid)
        assert set(train) | set(valid) == set(range(40))
        assert not set(row_ids(data.test)) & set(train)
        splits.setdefault(seed, []).append(valid)
    assert splits[0][0] == splits[0][1]  # deterministic for a seed
    assert splits[1][0] != splits[0][0]  # another seed, another split


def test_idx_loader_dynamic_binarization_flag(tmp_path):
    directory = fake_idx_set(tmp_path / "d")
    plain = load_images("mnist", directory, valid_size=5)
    dynamic = load_images("mnist", directory, valid_size=5, binarize="dynamic")
    assert dynamic.binary
    assert not plain.binary
    torch.testing.assert_close(dynamic.train, plain.train)  # values stay grey


@pytest.mark.parametrize(
    ("valid_size", "message"),
    [
        (-1, "valid_size must be >= 0, got -1"),
        (30, "30 training images are too few to hold out 30 for validation"),
        (10000, "30 training images are too few to hold out 10000 for validation"),
    ],
)
def test_idx_loader_rejects_a_bad_valid_size(tmp_path, valid_size, message):
    directory = fake_idx_set(tmp_path / "d")
    with pytest.raises(ValueError, match=message):
        load_images("mnist", directory, valid_size=valid_size)


def test_idx_loader_default_valid_size_needs_enough_images(tmp_path):
    """The default hold-out (10000) with too few images: the message names no Python
    keyword (the command line has no --valid-size)."""
    directory = fake_idx_set(tmp_path / "d")  # 30 training images < 10000
    with pytest.raises(ValueError, match="too few to hold out 10000") as info:
        load_images("mnist", directory)
    assert "valid_size" not in str(info.value)


def test_idx_loader_missing_directory(tmp_path):
    directory = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="--data-dir") as info:
        load_images("mnist", directory, valid_size=5)
    assert str(directory) in str(info.value)
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize(
    "missing",
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"],
)
def test_idx_loader_missing_file(tmp_path, missing):
    directory = fake_idx_set(tmp_path / "d", gz=True)
    (directory / f"{missing}.gz").unlink()
    with pytest.raises(FileNotFoundError, match="--data-dir") as info:
        load_images("fashion-mnist", directory, valid_size=5)
    assert missing in str(info.value)
    assert str(directory) in str(info.value)


def test_idx_loader_rejects_inconsistent_files(tmp_path):
    directory = fake_idx_set(tmp_path / "d")
    labels = directory / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(29, np.uint8)))
    with pytest.raises(ValueError, match="29 labels") as info:
        load_images("mnist", directory, valid_size=5)
    assert str(labels) in str(info.value)

    fake_idx_set(directory)
    images = directory / "train-images-idx3-ubyte"
    images.write_bytes(idx_bytes(np.zeros((30, 20), np.uint8)))  # 2-d, not (n, rows, cols)
    with pytest.raises(ValueError, match="3 are required") as info:
        load_images("mnist", directory, valid_size=5)
    assert str(images) in str(info.value)
    assert "IDX file" in str(info.value)

    fake_idx_set(directory)
    images.write_bytes(idx_bytes(np.zeros((30, 6, 4), np.uint8)))  # t10k is 5 x 4
    with pytest.raises(ValueError, match="same size"):
        load_images("mnist", directory, valid_size=5)

    fake_idx_set(directory)
    images.write_bytes(idx_bytes(np.zeros((30, 5, 4), np.float32)))
    with pytest.raises(ValueError, match="uint8") as info:
        load_images("mnist", directory, valid_size=5)
    assert str(images) in str(info.value)

    fake_idx_set(directory)
    images.write_bytes(images.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated") as info:
        load_images("mnist", directory, valid_size=5)
    assert str(images) in str(info.value)


# ---------------------------------------------------------------------------- binarized MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_binarized_mnist_loader(tmp_path, gz):
    arrays = fake_binarized_set(tmp_path / "b", gz=gz)
    data = load_images("binarized-mnist", tmp_path / "b")
    assert data.binary
    assert data.shape == (1, 28, 28)
    for split, n in (("train", 6), ("valid", 3), ("test", 2)):
        images, labels = getattr(data, split), getattr(data, f"{split}_labels")
        assert images.shape == (n, 1, 28, 28)
        assert images.dtype == torch.float32
        assert labels.tolist() == [-1] * n
        assert labels.dtype == torch.int64
        np.testing.assert_array_equal(images.reshape(n, 784).numpy(), arrays[split])


def test_binarized_mnist_loader_bad_input(tmp_path):
    directory = tmp_path / "b"
    fake_binarized_set(directory)
    with pytest.raises(ValueError, match="valid_size must be None"):
        load_images("binarized-mnist", directory, valid_size=5)

    valid = directory / "binarized_mnist_valid.amat"
    valid.write_text(amat_text(np.zeros((2, 783), np.uint8)))
    with pytest.raises(ValueError, match="line 1 has 783 values, 784 expected") as info:
        load_images("binarized-mnist", directory)
    assert str(valid) in str(info.value)
    assert ".amat text file" in str(info.value)

    pixels = np.zeros((2, 784), np.uint8)
    pixels[1, 5] = 3
    valid.write_text(amat_text(pixels))
    with pytest.raises(ValueError, match="line 2 holds the value '3'") as info:
        load_images("binarized-mnist", directory)
    assert str(valid) in str(info.value)

    valid.unlink()
    with pytest.raises(FileNotFoundError, match="binarized_mnist_valid.amat") as info:
        load_images("binarized-mnist", directory)
    assert "--data-dir" in str(info.value)


# ---------------------------------------------------------------------------- digits


def test_digits_loader():
    from sklearn.datasets import load_digits

    data = load_images("digits")
    assert data.name == "digits"
    assert data.shape == (1, 8, 8)
    assert not data.binary
    assert (len(data.train), len(data.valid), len(data.test)) == (1297, 250, 250)
    everything = torch.cat([data.train, data.valid, data.test])
    assert everything.dtype == torch.float32
    assert everything.min() == 0
    assert everything.max() == 1
    # the three splits partition the bundled data set, each image with its own label
    digits = load_digits()
    expected = sorted(
        (label, img.tobytes())
        for label, img in zip(digits.target, (digits.images / 16).astype(np.float32), strict=True)
    )
    labels = torch.cat([data.train_labels, data.valid_labels, data.test_labels])
    got = sorted(
        (label, img.tobytes())
        for label, img in zip(labels.tolist(), everything[:, 0].numpy(), strict=True)
    )
    assert got == expected


def test_digits_split_is_seeded_with_a_fixed_test_set():
    a, b, c = (
        load_images("digits", seed=0),
        load_images("digits", seed=0),
        load_images("digits", seed=1),
    )
    for split in ("train", "valid", "test", "train_labels", "valid_labels", "test_labels"):
        assert torch.equal(getattr(a, split), getattr(b, split))
    assert not torch.equal(a.valid, c.valid)
    assert torch.equal(a.test, c.test)  # test numbers compare across seeds
    small = load_images("digits", valid_size=100)
    assert (len(small.train), len(small.valid), len(small.test)) == (1447, 100, 250)
    assert load_images("digits", binarize="dynamic").binary


# ---------------------------------------------------------------------------- names and arguments


def test_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="digits, mnist, fashion-mnist, binarized-mnist") as info:
        load_images("cifar10")
    assert "'cifar10'" in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        default_data_dir("omniglot")
    with pytest.raises(ValueError, match="binarize must be one of none, dynamic; got 'static'"):
        load_images("digits", binarize="static")
    with pytest.raises(ValueError, match="valid_size must be an integer"):
        load_images("digits", valid_size=2.5)
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "binarized-mnist")


def test_image_data_checks_shapes():
    x, y = torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="valid must have shape"):
        ImageData("t", x, x[:, 0], x, y, y, y)
    with pytest.raises(ValueError, match="test images are"):
        ImageData("t", x, x, torch.zeros(3, 1, 2, 3), y, y, y)
    with pytest.raises(ValueError, match="train_labels must have shape"):
        ImageData("t", x, x, x, y[:2], y, y)
    assert "train=3" in repr(ImageData("t", x, x, x, y, y, y))


# ---------------------------------------------------------------------------- default_data_dir


def test_default_data_dir_from_environment(tmp_path, monkeypatch):
    fake_idx_set(tmp_path / "root" / "fashion_mnist")
    monkeypatch.setenv("REPARAM_DATA_DIR", str(tmp_path / "root"))
    assert default_data_dir("fashion-mnist") == tmp_path / "root" / "fashion_mnist"
    assert default_data_dir("digits") is None
    data = load_images("fashion-mnist", valid_size=3)
    assert len(data.train) == 27


def test_default_data_dir_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("REPARAM_DATA_DIR", raising=False)
    (tmp_path / "shared" / "data" / "binarized_mnist").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    found = default_data_dir("binarized-mnist")
    assert found.resolve() == (tmp_path / "shared" / "data" / "binarized_mnist").resolve()


def test_no_data_directory_found(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "_data_roots", lambda: [tmp_path / "a", tmp_path / "b"])
    assert default_data_dir("mnist") is None
    with pytest.raises(FileNotFoundError, match="--data-dir") as info:
        load_images("mnist")
    assert str(tmp_path / "a" / "mnist") in str(info.value)
    assert str(tmp_path / "b" / "mnist") in str(info.value)


# ---------------------------------------------------------------------------- dynamic binarization


def test_dynamic_binarize_is_bernoulli():
    p = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    n = 20000
    g = torch.Generator().manual_seed(0)
    x = dynamic_binarize(p.expand(n, -1).contiguous(), g)
    assert x.dtype == p.dtype
    assert x.shape == (n, 6)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    se = (p * (1 - p) / n).sqrt()
    mean = x.mean(0)
    assert torch.all((mean - p).abs() <= 5 * se + 1e-12), (mean, p, se)
    assert mean[0] == 0
    assert mean[-1] == 1


def test_dynamic_binarize_is_reproducible():
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    a = dynamic_binarize(x, torch.Generator().manual_seed(5))
    b = dynamic_binarize(x, torch.Generator().manual_seed(5))
    c = dynamic_binarize(x, torch.Generator().manual_seed(6))
    assert a.dtype == torch.float64
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    with pytest.raises(TypeError, match="floating point"):
        dynamic_binarize(torch.ones(3, dtype=torch.uint8))


# ---------------------------------------------------------------------------- the real files


def real_dir(name):
    directory = default_data_dir(name)
    if directory is None:
        pytest.skip(
            f"{name} files not found ($REPARAM_DATA_DIR, ../shared/data, /work/shared/data); "
            "the loader is covered by the tests on generated files"
        )
    return directory


def test_real_mnist():
    directory = real_dir("mnist")
    labels = read_idx(next(directory.glob("train-labels-idx1-ubyte*")))
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    data = load_images("mnist", directory)
    assert (data.train.shape, data.valid.shape, data.test.shape) == (
        (50000, 1, 28, 28),
        (10000, 1, 28, 28),
        (10000, 1, 28, 28),
    )
    # the data README: mean intensity 0.1307 (train) / 0.1325 (test)
    train_mean = (data.train.double().sum() + data.valid.double().sum()) / (60000 * 784)
    assert math.isclose(train_mean, 0.1307, abs_tol=5e-5)
    assert math.isclose(data.test.double().mean(), 0.1325, abs_tol=5e-5)
    counts = torch.bincount(torch.cat([data.train_labels, data.valid_labels]), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert data.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_fashion_mnist():
    directory = real_dir("fashion-mnist")
    labels = read_idx(next(directory.glob("train-labels-idx1-ubyte*")))
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    data = load_images("fashion-mnist", directory, seed=1)
    assert data.shape == (1, 28, 28)
    assert (len(data.train), len(data.valid), len(data.test)) == (50000, 10000, 10000)
    train_mean = (data.train.double().sum() + data.valid.double().sum()) / (60000 * 784)
    assert math.isclose(train_mean, 0.2860, abs_tol=5e-5)
    assert torch.bincount(data.test_labels).tolist() == [1000] * 10


def test_real_binarized_mnist():
    data = load_images("binarized-mnist", real_dir("binarized-mnist"))
    assert data.binary
    assert data.shape == (1, 28, 28)
    # the data README: number of ones per split
    for split, n, ones in (
        ("train", 50000, 5118041),
        ("valid", 10000, 1028036),
        ("test", 10000, 1038896),
    ):
        images = getattr(data, split)
        assert images.shape == (n, 1, 28, 28)
        assert ((images == 0) | (images == 1)).all()
        assert images.sum().item() == ones
