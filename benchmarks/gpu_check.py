"""The one prepared check of the training engine on a GPU: run it whenever one is lent, commit what it writes, and
move the constants of :mod:`quanos_lib.estimates` (``gpu_pass_costs``) to what it measured.

    .venv/bin/python benchmarks/gpu_check.py          # on a GPU: about 3 min on one H100/H200
    .venv/bin/python benchmarks/gpu_check.py --dry    # tiny sizes on the CPU (CI runs it, so the script cannot rot)

Measured side by side (the compared loops run in turn, round after round), on synthetic MNIST-shaped data (the
device machine has no datasets; a step's cost does not depend on the pixels):

- seconds per 50,000-image epoch of the 240- and 1,600-unit maxout (the zoo's recipe), naive and FGSM-adversarial,
  through ``training.train`` eagerly and with ``compile_step`` (one CUDA graph per step), beside a bare loop (the
  same model, forward + backward + SGD, nothing else): the ratios our / bare, eager / compiled and ours / the compute
  floor (the epoch's arithmetic at the estimate's rate);
- twelve runs in one stacked step (``quanos_lib.stacking``) against the same twelve one after another;
- bitwise: the sync-free loop against ``tests/reference_training.py`` (the loop before it) on this device;
- the device-side cost of 20 eager steps (``torch.profiler``): kernels launched per step, the busiest ops;
- the versions it ran with (torch, CUDA, the device).

Writes ``gpu_check-<device>.json`` into ``$OUT`` if set (the device machine's folder of files to bring back), else
into ``benchmarks/results/`` (``--dry``: printed only).
"""
import itertools
import json
import os
import pathlib
import statistics
import sys
import time

import stacked_training  # benchmarks/stacked_training.py
import torch
import torch.nn.functional as F

from quanos_lib import data, models, training, zoo

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/reference_training.py: the loop before the sync-free one

EPOCH_IMAGES = 50_000  # an MNIST epoch of the paper's split


def synthetic_mnist(images, device):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 1, 28, 28), dtype=torch.uint8, generator=g)
    return data.Split(x.to(device), torch.randint(0, 10, (images,), generator=g).to(device))


def config(variant, **changes):
    return training.TrainConfig(**{"epochs": 1, **zoo.MAXOUT_RECIPE, **zoo.MAXOUT_VARIANTS[variant], **changes})


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bare_epoch(model, split, batch_size):
    """The floor our loop is compared with: forward, backward, SGD; no schedule, max-norm or bookkeeping."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    x_all = data.to_float(split.x)
    for start in range(0, len(split), batch_size):
        loss = F.cross_entropy(model(x_all[start:start + batch_size]), split.y[start:start + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def steady_epochs(run):
    """Run ``run()`` (a ``training.train`` of several epochs) and return the wall time of each of its epochs: the
    loop calls ``training.momentum`` once as each epoch starts and reads the device once as it ends, so the time
    between two calls is one epoch. The first epoch holds a compiled step's compile time; the others are steady."""
    starts, momentum = [], training.momentum

    def timed_momentum(config, epoch):
        starts.append(time.perf_counter())
        return momentum(config, epoch)

    training.momentum = timed_momentum
    try:
        run()
    finally:
        training.momentum = momentum
    starts.append(time.perf_counter())
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


def epoch_times(units, variant, split, repeats, epochs=3):
    """Seconds per 50k-image epoch (steady: the median over rounds of the epochs after the first) of our loop eager
    and compiled and of the bare loop, the three timed in turn round after round; and the compiled step's first
    epoch less a steady one (its compile time)."""
    def ours(**changes):
        network = models.MaxoutMLP(units=units).to(split.x.device)
        return steady_epochs(lambda: training.train(network, split, config(variant, epochs=epochs, **changes),
                                                    progress=False))

    def bare():
        network, seconds = models.MaxoutMLP(units=units).to(split.x.device), []
        for _ in range(epochs):
            start = time.perf_counter()
            bare_epoch(network, split, zoo.MAXOUT_RECIPE["batch_size"])
            synchronize()
            seconds.append(time.perf_counter() - start)
        return seconds

    runs = {"eager": ours, "compiled": lambda: ours(compile_step=True), "bare": bare}
    if variant != "naive":  # the bare loop has no adversarial objective: ours is compared with ours only
        del runs["bare"]
    found = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            found[name].append(run())
    scale = EPOCH_IMAGES / len(split)
    times = {name: round(scale * statistics.median(t for epochs_ in rounds for t in epochs_[1:]), 3)
             for name, rounds in found.items()}
    times["compile_seconds"] = round(statistics.median(r[0] for r in found["compiled"]) - times["compiled"] / scale, 1)
    return times


def compute_floor(units, variant):
    """Seconds of a 50k-image epoch's arithmetic alone: its passes (``estimates.step_passes``) times its MACs at the
    rate ``quanos_lib.estimates`` assumes (half of an H100's fp32 peak): what a perfect loop would take."""
    from quanos_lib import energy, estimates
    macs = sum(energy.mac_counts(models.MaxoutMLP(units=units), (1, 28, 28)).values())
    return estimates.step_passes(config(variant)) * EPOCH_IMAGES * macs / estimates.gpu_pass_costs("mlp")[1]


def bitwise_against_the_loop_before(device, images, steps_epochs=2):
    import reference_training
    split = synthetic_mnist(images, device)
    val = synthetic_mnist(images // 4, device)
    found = []
    for loop in (training.train, reference_training.train):
        training.seed_everything(1)
        model = models.MaxoutMLP(units=32).to(device)
        history = loop(model, split, config("adversarial", epochs=steps_epochs, seed=1), val_split=val, progress=False)
        found.append((torch.cat([p.detach().flatten() for p in model.parameters()]), history["loss"]))
    (ours, our_loss), (before, before_loss) = found
    return {"weights_equal": bool(torch.equal(ours, before)), "max_abs_difference": float((ours - before).abs().max()),
            "loss_history_equal": our_loss == before_loss}


def profile_steps(device, units, steps=20):
    """Kernels per step and the busiest ops of ``steps`` eager steps (the launch-bound share of a step)."""
    from torch.profiler import ProfilerActivity, profile
    split = synthetic_mnist(steps * zoo.MAXOUT_RECIPE["batch_size"], device)
    model = models.MaxoutMLP(units=units).to(device)
    training.train(model, split, config("naive"), progress=False)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        training.train(model, split, config("naive"), progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    if device.type == "cuda":  # the kernels themselves (not the CPU ops that launch them, nor copies and fills)
        events = [e for e in events if e.device_type.name == "CUDA" and not e.key.startswith(("Memcpy", "Memset"))]
    kernels = sum(e.count for e in events) if device.type == "cuda" else 0
    attribute = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    busiest = sorted(events, key=lambda e: getattr(e, attribute, 0.0), reverse=True)[:8]
    return {"steps": steps, "kernels_per_step": round(kernels / steps, 1) if kernels else None,
            "busiest": [{"op": e.key, "calls": e.count, "ms": round(getattr(e, attribute, 0.0) / 1000, 3)}
                        for e in busiest]}


def main(dry):
    device = training.default_device()
    if not dry and device.type != "cuda":
        sys.exit("gpu_check.py: no GPU here; run it on a GPU, or with --dry on the CPU.")
    started = time.perf_counter()
    images, repeats, sizes = (400, 1, (16,)) if dry else (10_000, 3, (240, 1600))
    split = synthetic_mnist(images, device)
    report = {"device": training.device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "dry": dry, "epoch_seconds": {}, "ratios": {}}
    for units in sizes:
        for variant in ("naive", "adversarial"):
            times = epoch_times(units, variant, split, repeats)
            name = f"maxout{units}_{variant}"
            report["epoch_seconds"][name] = times
            if "bare" in times:
                report["ratios"][f"{name} ours / bare"] = round(times["eager"] / times["bare"], 3)
            report["ratios"][f"{name} ours / compute floor"] = round(times["eager"] / compute_floor(units, variant), 1)
            report["ratios"][f"{name} eager / compiled"] = round(times["eager"] / times["compiled"], 3)
            print(f"{name:26s} {json.dumps(times)}", flush=True)
    report["stacked_x12"] = {}
    for units in sizes:  # 12 runs in one stacked step against the same 12 one after another (one epoch)
        times = stacked_training.main(units, 200 if dry else 10_000)
        report["stacked_x12"][f"maxout{units}"] = {k: round(v, 3) for k, v in times.items()}
        report["ratios"][f"maxout{units} 12 sequential / 12 stacked"] = round(times["sequential"] / times["stacked"], 3)
    report["bitwise"] = bitwise_against_the_loop_before(device, 200 if dry else 2000)
    report["profile"] = profile_steps(device, sizes[0], steps=2 if dry else 20)
    report["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if not dry:  # into $OUT where the device machine collects files from, else benchmarks/results/
        folder = pathlib.Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "results"
        out = folder / f"gpu_check-{torch.cuda.get_device_name(device).replace(' ', '_')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main(dry="--dry" in sys.argv[1:])
