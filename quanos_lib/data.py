"""Datasets as in-memory tensors, with a record of exactly which data a result was computed on.

Where the data lives: ``$QUANOS_DATA`` if set, else ``~/.cache/quanos/data`` (``$XDG_CACHE_HOME``
respected), in torchvision's layout. A missing dataset is downloaded there by torchvision; offline,
loading fails with one :class:`DataUnavailableError` that says what to do.

Images are tensors of shape N x C x H x W kept in memory and batched by slicing (:meth:`Split.batches`):
no per-sample PIL transform in the hot path. MNIST is stored as float32 in [0, 1]; CIFAR as uint8
(a quarter of the memory), turned into float32 in [0, 1] per batch or by :meth:`Split.float`.
Normalization, where a model wants it, lives inside the model, so attacks and eps are in [0, 1] pixel space.

Every :class:`Dataset` carries ``info``: name, split sizes, whether the files' checksums matched the
official ones (``verified``), a fingerprint of the files and their folder relative to the data folder
(``source``; never a machine path). Results store it next to each number.
A copy whose checksums do not match loads with a loud :class:`UnverifiedDataWarning`, never silently.
"""
import hashlib
import importlib
import os
import pathlib
import pickle
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


def to_float(x):
    """Images as float32 in [0, 1]: uint8 images are divided by 255, float ones are returned as they are."""
    return x if x.is_floating_point() else x.float().div_(255.0)


@dataclass
class Split:
    """One split: images ``x`` (N x C x H x W; float32 in [0, 1], or uint8) and integer labels ``y``."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self):
        return len(self.y)

    def float(self):
        """The same split with float32 images in [0, 1] (uint8 images are divided by 255)."""
        return self if self.x.is_floating_point() else Split(to_float(self.x), self.y)

    def subset(self, size, seed=0):
        """``size`` examples drawn without replacement, the same ones for the same seed (None: all)."""
        if size is None or size >= len(self):
            return self
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator, device=generator.device).to(self.y.device)
        keep = order[:size].sort().values
        return Split(self.x[keep], self.y[keep])

    def holdout(self, size):
        """``(first, last)``: the last ``size`` examples split off, e.g. MNIST's last 10k for validation."""
        return Split(self.x[:-size], self.y[:-size]), Split(self.x[-size:], self.y[-size:])

    def where_label(self, labels):
        """The examples whose label is in ``labels``, relabelled 0, 1, ... in the order given."""
        keep = torch.isin(self.y, torch.tensor(labels, device=self.y.device))
        y = self.y[keep]
        relabelled = torch.zeros_like(y)
        for new, old in enumerate(labels):
            relabelled[y == old] = new
        return Split(self.x[keep], relabelled)

    def batches(self, batch_size, shuffle=False, generator=None):
        """Yield ``(x, y)`` mini-batches by slicing the tensors (shuffled with ``generator`` if asked);
        images always come out as float32 in [0, 1]."""
        device = generator.device if shuffle and generator is not None else self.y.device
        index = (torch.randperm(len(self), generator=generator, device=device) if shuffle else
                 torch.arange(len(self), device=device)).to(self.y.device)
        for chunk in index.split(batch_size):
            yield to_float(self.x[chunk]), self.y[chunk]


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


def random_crop_flip(x, padding=0, flip=False, generator=None):
    """Augment a batch on tensors: a random ``32 x 32`` (input-sized) crop of each image zero-padded by
    ``padding`` pixels, and a horizontal flip of each image with probability 1/2."""
    n, _, h, w = x.shape
    drawn_on = generator.device if generator is not None else x.device  # the draws follow the generator
    if padding:
        padded = torch.nn.functional.pad(x, (padding,) * 4)
        top = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=drawn_on).to(x.device)
        left = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=drawn_on).to(x.device)
        rows = (top + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (left + torch.arange(w, device=x.device))[:, None, None, :]
        channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None], channels, rows, cols]
    if flip:
        flipped = (torch.rand(n, generator=generator, device=drawn_on) < 0.5).to(x.device)
        x = torch.where(flipped[:, None, None, None], x.flip(3), x)
    return x


def file_digest(path, algorithm="md5"):
    """The hex digest of a file's bytes (hashlib's own streaming ``file_digest``)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def verify_files(expected):
    """Check ``{path: official md5}``: returns ``(verified, fingerprint)``.

    ``fingerprint`` is a short hash of the files' own md5s, so a result on an unverified copy still
    names exactly which files it came from.
    """
    found = {pathlib.Path(p).name: file_digest(p) for p in expected if pathlib.Path(p).exists()}
    verified = len(found) == len(expected) and all(found[pathlib.Path(p).name] == md5
                                                   for p, md5 in expected.items())
    fingerprint = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(found.items())).encode()).hexdigest()[:16]
    return verified, fingerprint


def download_failure(error):
    """Why a download failed, in a few words a reader can act on: "no network connection" for a failed name lookup
    or connection (urllib's ``<urlopen error [Errno -2] ...>``), else the error's last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = lines[-1] if lines else type(error).__name__  # the last line is the most specific (the mirror's error)
    if "urlopen error" in cause or "Name or service not known" in cause or "Connection refused" in cause:
        return "no network connection"
    return cause


def _unavailable(name, error):
    cause = download_failure(error)
    return DataUnavailableError(
        f"{name} is not in the data folder (QUANOS_DATA, else ~/.cache/quanos/data) and could not be downloaded "
        f"({cause}). Connect to the internet and run again (torchvision downloads it into that folder), "
        f"or set QUANOS_DATA to a folder that holds {name} in torchvision's layout.")


def _load_mnist(root):
    try:
        train = torchvision.datasets.MNIST(root, train=True, download=True)
        test = torchvision.datasets.MNIST(root, train=False, download=True)
    except (RuntimeError, OSError) as error:
        raise _unavailable("MNIST", error) from None
    raw = pathlib.Path(train.raw_folder)
    # torchvision keeps the downloaded .gz files; their md5s are the official ones it checks on download.
    verified, fingerprint = verify_files({raw / name: md5 for name, md5 in torchvision.datasets.MNIST.resources})

    def tensors(ds):
        return Split(ds.data.unsqueeze(1).float().div_(255.0), ds.targets.clone())

    info = {"name": "MNIST", "source": raw.relative_to(root).as_posix(), "verified": verified,
            "fingerprint": fingerprint}
    return Dataset("MNIST", tensors(train), tensors(test), list(range(10)), info)


def _unchecked(cifar_class):
    """torchvision's CIFAR reader without its checksum test, for a local copy we have already found not
    to match (it is loaded with a warning and recorded as unverified, never silently)."""
    class Unchecked(cifar_class):
        def _check_integrity(self):
            return True

        def _load_meta(self):
            with open(os.path.join(self.root, self.base_folder, self.meta["filename"]), "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
    return Unchecked


def _load_cifar(cifar_class, name, root):
    folder = pathlib.Path(root) / cifar_class.base_folder
    expected = {folder / file: md5 for file, md5 in cifar_class.train_list + cifar_class.test_list}
    expected[folder / cifar_class.meta["filename"]] = cifar_class.meta["md5"]
    if not all(path.exists() for path in expected):
        try:  # downloads the official archive and checks it
            cifar_class(root, train=True, download=True)
        except (RuntimeError, OSError) as error:
            raise _unavailable(name, error) from None
    verified, fingerprint = verify_files(expected)
    reader = cifar_class if verified else _unchecked(cifar_class)
    splits = {}
    for train in (True, False):
        dataset = reader(root, train=train)
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # uint8, N x 3 x 32 x 32
        splits[train] = Split(images, torch.tensor(dataset.targets, dtype=torch.long))
    info = {"name": name if verified else f"{name} (unverified copy)", "source": cifar_class.base_folder,
            "verified": verified, "fingerprint": fingerprint}
    notices = sorted(folder.glob("NOT-OFFICIAL*.txt"))  # the offline stand-in says what it is
    if notices:
        info["notice"] = notices[0].read_text().strip().splitlines()[0]
    return Dataset(name, splits[True], splits[False], list(dataset.classes), info)


# The datasets' names as results and notebooks print them.
NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
         "imagenet-panda": "the ImageNet panda of Figure 1 (photograph and GoogLeNet weights)"}

# Each loader takes the data root and returns a full Dataset; a "module:function" string names a loader that lives
# above this module (Figure 1's panda needs GoogLeNet, quanos_lib.imagenet) and is imported only when asked for, so that
# every import of the library points one way.
LOADERS = {
    "mnist": _load_mnist,
    "cifar10": lambda root: _load_cifar(torchvision.datasets.CIFAR10, NAMES["cifar10"], root),
    "cifar100": lambda root: _load_cifar(torchvision.datasets.CIFAR100, NAMES["cifar100"], root),
    "imagenet-panda": "quanos_lib.imagenet:load_dataset",
}


def load(name, *, train_size=None, test_size=None, seed=0):
    """Load dataset ``name`` (``"mnist"``, ``"cifar10"``, ``"cifar100"``), optionally a deterministic
    subset of each split."""
    if name.lower() not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    root = data_root()
    loader = LOADERS[name.lower()]
    if isinstance(loader, str):
        module, function = loader.split(":")
        loader = getattr(importlib.import_module(module), function)
    dataset = loader(root)
    if not dataset.info["verified"]:
        warnings.warn(f"{dataset.name} (data folder: {dataset.info['source']}) does NOT match the official checksums "
                      f"(fingerprint {dataset.info['fingerprint']}): results are recorded as "
                      f"\"{dataset.info['name']}\", unverified.", UnverifiedDataWarning, stacklevel=2)
    dataset.info.update(train_size=len(dataset.train), test_size=len(dataset.test))
    return dataset.subset(train_size, test_size, seed)
