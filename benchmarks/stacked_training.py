"""Twelve maxout runs trained in one stacked step (``quanos_lib.stacking.train_many``) against the same twelve trained
one after another (``training.train``), timed side by side, interleaved (``timing.interleaved_medians``).

    .venv/bin/python benchmarks/stacked_training.py [units] [images]

Prints the seconds of one epoch for both and their ratio (sequential / stacked: above 1, stacking wins). On a CPU a
240-unit step is bound by its arithmetic, which stacking does not reduce; on a GPU it is bound by kernel launches,
which the stack shares, less a few per run (``quanos_lib.estimates.STACK_...``; ``benchmarks/gpu_check.py`` measures
that case).
"""
import sys

import torch
from timing import interleaved_medians  # benchmarks/timing.py

from quanos_lib import data, models, stacking, training, zoo

RUNS = 12


def main(units=240, images=2000):
    device = training.default_device()
    g = torch.Generator().manual_seed(0)
    split = data.Split(torch.randint(0, 256, (images, 1, 28, 28), dtype=torch.uint8, generator=g).to(device),
                       torch.randint(0, 10, (images,), generator=g).to(device))
    configs = [training.TrainConfig(epochs=1, seed=s, **zoo.MAXOUT_RECIPE) for s in range(RUNS)]

    def sequential():
        for config in configs:
            training.train(models.MaxoutMLP(units=units), split, config, progress=False)

    def stacked():
        stacking.train_many([models.MaxoutMLP(units=units) for _ in configs], split, configs, progress=False)

    def synchronized(fn):
        return lambda: (fn(), torch.cuda.synchronize() if device.type == "cuda" else None)

    times = interleaved_medians({"sequential": synchronized(sequential), "stacked": synchronized(stacked)}, repeats=3)
    print(f"{RUNS} maxout{units} runs, one epoch of {images} images on {training.device_name(device)} "
          f"({torch.get_num_threads()} threads): sequential {times['sequential']:.2f} s, stacked {times['stacked']:.2f} s, "
          f"sequential / stacked {times['sequential'] / times['stacked']:.2f}x")
    return times


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
