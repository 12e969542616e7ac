"""Datasets as in-memory tensors, with a record of exactly which data a result was computed on.

Where the data lives: ``$QUANOS_DATA`` if set, else ``~/.cache/quanos/data`` (``$XDG_CACHE_HOME``
respected), in torchvision's layout. A missing dataset is downloaded there by torchvision; offline,
loading fails with one :class:`DataUnavailableError` that says what to do.

Images are float32 tensors in [0, 1] of shape N x C x H x W, kept in memory and batched by slicing
(:meth:`Split.batches`): no per-sample PIL transform in the hot path. Normalization, where a model
wants it, lives inside the model, so attacks and eps are always in [0, 1] pixel space.

Every :class:`Dataset` carries ``info``: name, split sizes, whether the files' checksums matched the
official ones (``verified``) and a fingerprint of the files. Results store it next to each number.
A copy whose checksums do not match loads with a loud :class:`UnverifiedDataWarning`, never silently.
"""
import hashlib
import os
import pathlib
import warnings
from dataclasses import dataclass, field

import torch
import torchvision


class DataUnavailableError(RuntimeError):
    """The dataset is neither on disk nor downloadable."""


class UnverifiedDataWarning(UserWarning):
    """The dataset's files do not match the official checksums."""


def data_root():
    """The folder holding the datasets in torchvision's layout."""
    if os.environ.get("QUANOS_DATA"):
        return pathlib.Path(os.environ["QUANOS_DATA"]).expanduser().resolve()
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    return cache / "quanos" / "data"


@dataclass
class Split:
    """One split: images ``x`` (float32 in [0, 1], N x C x H x W) and integer labels ``y``."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self):
        return len(self.y)

    def subset(self, size, seed=0):
        """``size`` examples drawn without replacement, the same ones for the same seed (None: all)."""
        if size is None or size >= len(self):
            return self
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        keep = order[:size].sort().values
        return Split(self.x[keep], self.y[keep])

    def holdout(self, size):
        """``(first, last)``: the last ``size`` examples split off, e.g. MNIST's last 10k for validation."""
        return Split(self.x[:-size], self.y[:-size]), Split(self.x[-size:], self.y[-size:])

    def where_label(self, labels):
        """The examples whose label is in ``labels``, relabelled 0, 1, ... in the order given."""
        keep = torch.isin(self.y, torch.tensor(labels))
        y = self.y[keep]
        relabelled = torch.zeros_like(y)
        for new, old in enumerate(labels):
            relabelled[y == old] = new
        return Split(self.x[keep], relabelled)

    def batches(self, batch_size, shuffle=False, generator=None):
        """Yield ``(x, y)`` mini-batches by slicing the tensors (shuffled with ``generator`` if asked)."""
        index = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for chunk in index.split(batch_size):
            yield self.x[chunk], self.y[chunk]


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: list
    info: dict = field(default_factory=dict)

    def subset(self, train_size=None, test_size=None, seed=0):
        """A deterministic subset of both splits, with ``info`` updated to the sizes actually used."""
        train, test = self.train.subset(train_size, seed), self.test.subset(test_size, seed)
        info = dict(self.info, train_size=len(train), test_size=len(test))
        return Dataset(self.name, train, test, self.classes, info)

    def where_label(self, labels):
        """Only the classes ``labels`` (relabelled 0, 1, ...), e.g. MNIST 3s vs 7s."""
        train, test = self.train.where_label(labels), self.test.where_label(labels)
        info = dict(self.info, classes=[self.classes[c] for c in labels],
                    train_size=len(train), test_size=len(test))
        return Dataset(self.name, train, test, [self.classes[c] for c in labels], info)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_files(expected):
    """Check ``{path: official md5}``: returns ``(verified, fingerprint)``.

    ``fingerprint`` is a short hash of the files' own md5s, so a result on an unverified copy still
    names exactly which files it came from.
    """
    found = {pathlib.Path(p).name: _md5(p) for p in expected if pathlib.Path(p).exists()}
    verified = len(found) == len(expected) and all(found[pathlib.Path(p).name] == md5
                                                   for p, md5 in expected.items())
    fingerprint = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(found.items())).encode()).hexdigest()[:16]
    return verified, fingerprint


def _unavailable(name, root, error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = lines[-1] if lines else type(error).__name__  # the last line is the most specific (the mirror's error)
    return DataUnavailableError(
        f"{name} is not in {root} and could not be downloaded ({cause}). "
        f"Connect to the internet and run again (torchvision downloads it into that folder), "
        f"or set QUANOS_DATA to a folder that holds {name} in torchvision's layout.")


def _load_mnist(root):
    try:
        train = torchvision.datasets.MNIST(root, train=True, download=True)
        test = torchvision.datasets.MNIST(root, train=False, download=True)
    except (RuntimeError, OSError) as error:
        raise _unavailable("MNIST", root, error) from None
    raw = pathlib.Path(train.raw_folder)
    # torchvision keeps the downloaded .gz files; their md5s are the official ones it checks on download.
    verified, fingerprint = verify_files({raw / name: md5 for name, md5 in torchvision.datasets.MNIST.resources})

    def tensors(ds):
        return Split(ds.data.unsqueeze(1).float().div_(255.0), ds.targets.clone())

    info = {"name": "MNIST", "source": str(raw), "verified": verified, "fingerprint": fingerprint}
    return Dataset("MNIST", tensors(train), tensors(test), list(range(10)), info)


# Each loader takes the data root and returns a full Dataset. CIFAR-10/100 slot in here.
LOADERS = {"mnist": _load_mnist}


def load(name, *, train_size=None, test_size=None, seed=0):
    """Load dataset ``name`` (e.g. ``"mnist"``), optionally a deterministic subset of each split."""
    if name.lower() not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    root = data_root()
    dataset = LOADERS[name.lower()](root)
    if not dataset.info["verified"]:
        warnings.warn(f"{dataset.name} in {dataset.info['source']} does NOT match the official checksums "
                      f"(fingerprint {dataset.info['fingerprint']}): results are recorded as unverified.",
                      UnverifiedDataWarning, stacklevel=2)
    dataset.info.update(train_size=len(dataset.train), test_size=len(dataset.test))
    return dataset.subset(train_size, test_size, seed)
