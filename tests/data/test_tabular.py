"""Tabular data: .csv (with or without a header) and .npy, strict errors, split, standardize."""

import numpy as np
import pytest
import torch

from reparam.data.tabular import load_tabular, split_tabular, standardize


def test_csv_without_header(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("1,2,3\n4, 5 ,6\n\n7,8,9.5\n")
    x = load_tabular(p)
    assert x.dtype == torch.float32
    assert torch.equal(x, torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]]))


def test_csv_with_header(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("a,b\n1,2\n3,4\n")
    assert torch.equal(load_tabular(p), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


def test_npy(tmp_path):
    p = tmp_path / "x.npy"
    a = np.arange(12, dtype=np.int64).reshape(6, 2)
    np.save(p, a)
    x = load_tabular(p)
    assert x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(a).float())


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("ragged.csv", "1,2\n3\n", "ragged"),
        ("nan.csv", "1,2\n3,nan\n", "NaN"),
        ("inf.csv", "1,2\n3,inf\n", "NaN or infinite"),
        ("text.csv", "a,b\n1,2\n3,x\n", "non-numeric value 'x'"),
        ("short.csv", "a,b\n1,2\n", "at least 2 rows"),
        ("empty.csv", "\n\n", "no rows"),
        ("data.txt", "1,2\n3,4\n", "expected a .csv or .npy"),
    ],
)
def test_bad_csv_names_the_file(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        load_tabular(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros(5), "2-D"),
        (np.zeros((2, 2, 2)), "2-D"),
        (np.zeros((1, 3)), "at least 2 rows"),
        (np.array([[1.0, np.nan], [0.0, 0.0]]), "NaN"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ],
)
def test_bad_npy_names_the_file(tmp_path, array, match):
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(ValueError, match=match) as info:
        load_tabular(p)
    assert str(p) in str(info.value)


def test_corrupt_npy_and_missing_file(tmp_path):
    p = tmp_path / "junk.npy"
    p.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="npy") as info:
        load_tabular(p)
    assert str(p) in str(info.value)
    missing = tmp_path / "missing.csv"
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_tabular(missing)


def test_split_is_seeded_partition():
    x = torch.arange(100.0).reshape(50, 2)
    train, valid, test = split_tabular(x, seed=1)
    assert (len(train), len(valid), len(test)) == (40, 5, 5)
    rows = torch.cat([train, valid, test])[:, 0].sort().values
    assert torch.equal(rows, x[:, 0])
    again = split_tabular(x, seed=1)
    assert all(torch.equal(a, b) for a, b in zip((train, valid, test), again, strict=True))
    assert not torch.equal(split_tabular(x, seed=2)[0], train)
    with pytest.raises(ValueError, match="too few"):
        split_tabular(x[:3])


def test_standardize_uses_training_statistics():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(200, 3, generator=g) * torch.tensor([2.0, 5.0, 0.0]) + 7
    other = torch.ones(4, 3)
    s_train, s_other = standardize(train, other)
    assert torch.allclose(s_train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(s_train[:, :2].std(0, correction=0), torch.ones(2), atol=1e-5)
    assert torch.equal(s_train[:, 2], torch.zeros(200))  # the constant column: centred only
    mean, std = train.mean(0), train.std(0, correction=0)
    assert torch.allclose(s_other[:, :2], (other[:, :2] - mean[:2]) / std[:2])
    assert torch.isfinite(s_other).all()
