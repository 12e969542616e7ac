import shutil

import pytest
import torch
import torchvision

from quanos_lib import data


def test_mnist_is_real_verified_and_in_unit_range(mnist):
    assert mnist.info["verified"] is True
    assert (mnist.info["train_size"], mnist.info["test_size"]) == (60000, 10000)
    assert mnist.train.x.shape == (60000, 1, 28, 28) and mnist.train.x.dtype == torch.float32
    assert mnist.train.x.min() == 0 and mnist.train.x.max() == 1
    # the official test label counts (shared/data/README.md)
    assert mnist.test.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_subsets_are_deterministic_and_recorded(mnist):
    a, b = mnist.subset(300, 100, seed=0), mnist.subset(300, 100, seed=0)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.y, mnist.subset(300, 100, seed=1).train.y)
    assert (a.info["train_size"], a.info["test_size"]) == (300, 100)


def test_where_label_keeps_and_relabels_two_classes(mnist):
    pair = mnist.where_label([3, 7])
    assert set(pair.train.y.tolist()) == {0, 1}
    assert (pair.train.y == 0).sum() == (mnist.train.y == 3).sum()
    assert pair.classes == [3, 7] and pair.info["test_size"] == 1010 + 1028


def test_batches_cover_every_example_once():
    split = data.Split(torch.arange(10.0).reshape(10, 1, 1, 1), torch.arange(10))
    seen = torch.cat([y for _, y in split.batches(3, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))


def _copy_mnist(tmp_path):
    source = data.data_root() / "MNIST" / "raw"
    target = tmp_path / "MNIST" / "raw"
    shutil.copytree(source, target)
    return target


def test_copy_with_wrong_checksum_loads_with_a_loud_warning(tmp_path, monkeypatch):
    raw = _copy_mnist(tmp_path)
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes() + b"\0")  # same data for torchvision, different md5
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    with pytest.warns(data.UnverifiedDataWarning, match="does NOT match"):
        dataset = data.load("mnist", train_size=10, test_size=10)
    assert dataset.info["verified"] is False and len(dataset.info["fingerprint"]) == 16


def test_missing_data_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    # an address that refuses at once: the test never touches the network
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(data.DataUnavailableError, match="QUANOS_DATA"):
        data.load("mnist")


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet")
