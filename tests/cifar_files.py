"""Tiny CIFAR datasets in torchvision's layout and the official pickle format, written by the tests."""
import pickle

import numpy as np
import torchvision


def write_cifar(root, cifar_class, n_train=20, n_test=10, classes=10):
    """A tiny dataset in torchvision's layout and the official batch format (not the official files)."""
    folder = root / cifar_class.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    label_key = "labels" if cifar_class is torchvision.datasets.CIFAR10 else "fine_labels"
    train_files = [name for name, _ in cifar_class.train_list]
    for files, n in ((train_files, n_train), ([name for name, _ in cifar_class.test_list], n_test)):
        per_file = n // len(files)
        for name in files:
            entry = {"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
                     label_key: (np.arange(per_file) % classes).tolist()}
            (folder / name).write_bytes(pickle.dumps(entry))
    meta = {cifar_class.meta["key"]: [f"class{c}" for c in range(classes)]}
    (folder / cifar_class.meta["filename"]).write_bytes(pickle.dumps(meta))
    return folder
