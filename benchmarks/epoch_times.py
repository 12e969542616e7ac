"""Seconds per training epoch of every family's model, at the `cpu` and the `full` profile's width, on this machine.

    .venv/bin/python benchmarks/epoch_times.py [name ...]

Each model trains one epoch by the zoo's own recipe (after a warm-up epoch on a tenth of the images), on the
images a notebook trains it on. Printed side by side: seconds per epoch, and per family the ratio of the `full`
width's epoch to the `cpu` width's (how much dearer `full` is per epoch on the same machine). Run on a GPU, it gives
the measured epoch times behind :mod:`quanos_lib.estimates` (``GPU_EPOCH_SECONDS``).
"""
import json
import sys
import time

import torch

from quanos_lib import data, models, training, zoo

CASES = {  # name: (family, build, dataset, training images, recipe)
    "maxout240": ("mlp", lambda: models.MaxoutMLP(units=240), "mnist", 50000, zoo.MAXOUT_RECIPE),
    "mpdbm": ("mpdbm", lambda: models.MPDBM(), "mnist", 50000, zoo.MPDBM_RECIPE),
    "vgg19_w0.125": ("vgg", lambda: models.VGG19(width=0.125), "cifar10", 45000, zoo.VGG_RECIPE),
    "vgg19_w1": ("vgg", lambda: models.VGG19(width=1.0), "cifar10", 45000, zoo.VGG_RECIPE),
    "conv_maxout_w0.25": ("conv_maxout", lambda: models.ConvMaxoutNet(width=0.25), "cifar10", 50000,
                          zoo.CONV_MAXOUT_RECIPE),
    "conv_maxout_w1": ("conv_maxout", lambda: models.ConvMaxoutNet(width=1.0), "cifar10", 50000, zoo.CONV_MAXOUT_RECIPE),
}


def epoch_seconds(build, split, recipe):
    training.seed_everything(0)
    model = build()
    training.train(model, split.subset(len(split) // 10), training.TrainConfig(epochs=1, **recipe), progress=False)
    synchronize = torch.cuda.synchronize if training.default_device().type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    training.train(model, split, training.TrainConfig(epochs=1, **recipe), progress=False)
    synchronize()
    return time.perf_counter() - start


def main(names):
    datasets = {}
    measured = {"device": training.device_name(), "torch": torch.__version__}
    for name in names:
        family, build, dataset, images, recipe = CASES[name]
        if dataset not in datasets:
            datasets[dataset] = data.load(dataset)
        measured[name] = round(epoch_seconds(build, datasets[dataset].train.subset(images), recipe), 2)
        print(f"{name:20s} {family:12s} {measured[name]:8.2f} s per epoch", flush=True)
    for small, large in (("vgg19_w0.125", "vgg19_w1"), ("conv_maxout_w0.25", "conv_maxout_w1")):
        if small in measured and large in measured:
            print(f"{large} / {small}: {measured[large] / measured[small]:.1f}x per epoch")
    print(json.dumps(measured))


if __name__ == "__main__":
    main(sys.argv[1:] or list(CASES))
