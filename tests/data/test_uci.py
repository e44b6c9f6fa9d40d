"""reparam.data.load_uci: normalisation on the training split, constant columns, splits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from reparam.data import UCI_DATASETS, load_uci
from reparam.data.uci import uci_num_splits

REAL = Path("/work/shared/data/uci")


def _write(root, name="yacht", constant=True):
    d = root / name
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(10, 4)) * [1.0, 5.0, 1.0, 2.0] + [0.0, 3.0, 7.5, -1.0]
    if constant:
        data[:, 2] = 7.5  # a constant feature column (as in naval-propulsion-plant)
    np.savetxt(d / "data.txt", data)
    np.savetxt(d / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(d / "index_target.txt", [3], fmt="%d")
    np.savetxt(d / "n_splits.txt", [2], fmt="%d")
    splits = [(np.arange(0, 8), np.arange(8, 10)), (np.arange(2, 10), np.arange(0, 2))]
    for i, (tr, te) in enumerate(splits):
        np.savetxt(d / f"index_train_{i}.txt", tr, fmt="%d")
        np.savetxt(d / f"index_test_{i}.txt", te, fmt="%d")
    return data, splits


def test_normalised_on_the_training_split(tmp_path):
    data, splits = _write(tmp_path)
    for i, (tr, te) in enumerate(splits):
        d = load_uci("yacht", i, tmp_path)
        assert (d.split, d.num_splits, len(d.x_train), len(d.x_test)) == (i, 2, 8, 2)
        x, y = data[:, :3], data[:, 3]
        mean, std = x[tr].mean(0), x[tr].std(0)
        assert d.y_mean == pytest.approx(y[tr].mean())
        assert d.y_std == pytest.approx(y[tr].std())
        expected_y = (y[te] - y[tr].mean()) / y[tr].std()
        np.testing.assert_allclose(d.y_test.numpy(), expected_y, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            d.x_test[:, [0, 1]].numpy(), ((x[te] - mean) / np.where(std > 0, std, 1))[:, [0, 1]],
            rtol=1e-5, atol=1e-6,
        )  # fmt: skip
        # train statistics: exactly standardised on the training rows only
        np.testing.assert_allclose(d.x_train[:, :2].mean(0).numpy(), 0, atol=1e-6)
        np.testing.assert_allclose(d.x_train[:, :2].std(0, unbiased=False).numpy(), 1, atol=1e-5)
        # the constant column is 0 everywhere, never NaN or inf
        assert torch.equal(d.x_train[:, 2], torch.zeros(8))
        assert torch.equal(d.x_test[:, 2], torch.zeros(2))
        assert d.x_std[2] == 1
    # the dataset's own folder works as data_dir too
    assert len(load_uci("yacht", 0, tmp_path / "yacht").x_train) == 8
    assert uci_num_splits("yacht", tmp_path) == 2


def test_bad_input(tmp_path):
    _write(tmp_path)
    with pytest.raises(ValueError, match="unknown UCI data set 'housing'"):
        load_uci("housing", 0, tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_uci("yacht", 2, tmp_path)
    with pytest.raises(FileNotFoundError, match="concrete"):
        load_uci("concrete", 0, tmp_path)
    (tmp_path / "yacht" / "index_test_1.txt").unlink()
    with pytest.raises(FileNotFoundError, match="index_test_1.txt"):
        load_uci("yacht", 1, tmp_path)
    np.savetxt(tmp_path / "yacht" / "index_test_1.txt", [2, 3], fmt="%d")  # overlaps train
    with pytest.raises(ValueError, match="both train and test"):
        load_uci("yacht", 1, tmp_path)


@pytest.mark.skipif(not (REAL / "bostonHousing").is_dir(), reason="no UCI data in shared/data")
def test_real_boston():
    d = load_uci("bostonHousing", 0, REAL)
    assert (len(d.x_train), len(d.x_test), d.num_features, d.num_splits) == (455, 51, 13, 20)
    assert abs(d.y_mean - 22.53) < 1.0
    assert abs(d.y_std - 9.19) < 1.0
    assert "bostonHousing" in UCI_DATASETS
