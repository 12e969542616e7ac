"""CIFAR loaders, on small datasets the tests write themselves in the official pickle format."""
import pickle

import numpy as np
import pytest
import torch
import torchvision

from cifar_files import write_cifar
from quanos_lib import data


def test_cifar100_loads_from_the_official_format_as_unverified_uint8(tmp_path, monkeypatch):
    write_cifar(tmp_path, torchvision.datasets.CIFAR100, n_train=30, n_test=10, classes=100)
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    with pytest.warns(data.UnverifiedDataWarning, match="CIFAR-100 \\(unverified copy\\)"):
        cifar = data.load("cifar100")
    assert cifar.train.x.shape == (30, 3, 32, 32) and cifar.train.x.dtype == torch.uint8
    assert cifar.info["verified"] is False and cifar.info["name"] == "CIFAR-100 (unverified copy)"
    assert len(cifar.classes) == 100 and cifar.test.y.tolist() == list(range(10))
    x, _ = next(cifar.train.batches(8))
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(cifar.train.float().x[:8], x)


def test_pixel_order_is_channels_first_as_in_the_official_rows(tmp_path, monkeypatch):
    folder = write_cifar(tmp_path, torchvision.datasets.CIFAR10)
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    with pytest.warns(data.UnverifiedDataWarning):
        cifar = data.load("cifar10")
    row = pickle.loads((folder / "data_batch_1").read_bytes())["data"][0]
    # the official row holds 1024 red, then 1024 green, then 1024 blue values, each 32 x 32 row-major
    assert torch.equal(cifar.train.x[0], torch.from_numpy(row.reshape(3, 32, 32)))


def test_cifar_copy_matching_the_checksums_loads_verified_without_warning(tmp_path, monkeypatch, recwarn):
    folder = write_cifar(tmp_path, torchvision.datasets.CIFAR10)
    cls = torchvision.datasets.CIFAR10
    md5 = {p.name: data.file_digest(p) for p in folder.iterdir()}  # pretend these tiny files are the official ones
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    cifar = data.load("cifar10")
    assert cifar.info["verified"] is True and cifar.info["name"] == "CIFAR-10"
    assert not [w for w in recwarn if issubclass(w.category, data.UnverifiedDataWarning)]


def test_missing_cifar_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANOS_DATA", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets.CIFAR100, "url", "http://127.0.0.1:9/cifar-100-python.tar.gz")
    with pytest.raises(data.DataUnavailableError, match="CIFAR-100 is not in"):
        data.load("cifar100")
