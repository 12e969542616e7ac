"""How long each notebook's ``full`` run should take on a GPU, estimated from its measured ``cpu`` run, until a
measured ``full`` time replaces the estimate (the README's run-time table).

    estimate = measured cpu minutes x (work at full / work at cpu) / gpu_speedup(family)

- **work** is the number of multiply-accumulates the notebook's training and attacks perform, from the profiles:
  per model, its MACs for one image (:func:`quanos_lib.energy.mac_counts` at the profile's width) x images x epoch
  cap x passes per image (3 for a training step, forward and backward; one more gradient pass per step of an attack
  in the objective). Epoch *caps* are counted, so the estimate is an upper bound where early stopping ends sooner.
  Of the cpu time, the run that trained its models scales with the training work and the cached run's time with the
  evaluation work (test images x attack steps x MACs).
- **gpu_speedup** is measured, per family of model: how many times more multiply-accumulates per second one GPU
  performs than the 2-core CPU, training each family's model by its zoo recipe for one epoch
  (``benchmarks/epoch_times.py``): the `cpu` profile's width on this project's 2-core machine, the `full` profile's
  width on one NVIDIA H100 (80 GB), lent for one session on 2026-11-24. The ratio is a throughput ratio (seconds per
  epoch times the MACs of each width), since `cpu` and `full` train different widths of VGG-19 and conv maxout. The MNIST
  MLPs (batch 100) gain only about 3x: hundreds of tiny kernels per batch, bound by their launches, not by arithmetic.
"""
import functools

from . import energy, models, profiles, results

# benchmarks/epoch_times.py: seconds per training epoch, one epoch by the zoo's recipe after a warm-up
CPU_EPOCH_SECONDS = {"maxout240": 4.04, "mpdbm": 73.96, "vgg19_w0.125": 20.42, "conv_maxout_w0.25": 113.06}  # 2 cores
GPU_EPOCH_SECONDS = {"maxout240": 1.39, "mpdbm": 14.73, "vgg19_w1": 8.34, "conv_maxout_w1": 5.04}  # one H100
# family: (its model at the `cpu` width, at the `full` width), each (benchmark name, kind for _macs, width)
FAMILY_MODELS = {
    "mlp": (("maxout240", "maxout", 240), ("maxout240", "maxout", 240)),
    "mpdbm": (("mpdbm", None, None), ("mpdbm", None, None)),
    "vgg": (("vgg19_w0.125", "vgg", 0.125), ("vgg19_w1", "vgg", 1.0)),
    "conv_maxout": (("conv_maxout_w0.25", "conv_maxout", 0.25), ("conv_maxout_w1", "conv_maxout", 1.0)),
}


def gpu_speedup(family):
    """How many times the GPU's MAC throughput exceeds the 2-core CPU's, training ``family``'s model."""
    (cpu_name, kind, cpu_width), (gpu_name, _, full_width) = FAMILY_MODELS[family]
    work_ratio = _macs(kind, full_width) / _macs(kind, cpu_width) if kind else 1.0
    return work_ratio * CPU_EPOCH_SECONDS[cpu_name] / GPU_EPOCH_SECONDS[gpu_name]


TRAIN_PASSES = 3  # forward + backward


@functools.lru_cache(maxsize=None)
def _macs(kind, size):
    """MACs for one image: ``("vgg", width)``, ``("conv_maxout", width)``, ``("maxout", units)``."""
    if kind == "vgg":
        model, shape = models.VGG19(width=size), (3, 32, 32)
    elif kind == "conv_maxout":
        model, shape = models.ConvMaxoutNet(width=size), (3, 32, 32)
    else:
        model, shape = models.MaxoutMLP(units=size), (1, 28, 28)
    return sum(energy.mac_counts(model, shape).values())


def _mnist_train(scale):
    return 60000 if scale.get("train_size") is None else scale["train_size"]


def _maxout_training(scale, *, budgets, large=False):
    """Training MACs of maxout networks: ``budgets`` lists (epochs key, continue key, count, adversarial passes)."""
    total = 0
    for epochs_key, continue_key, count, extra in budgets:
        epochs = scale[epochs_key] + scale[continue_key]
        total += count * epochs * _mnist_train(scale) * (TRAIN_PASSES + extra) * _macs("maxout", scale["units"])
    if large and scale["units_large"]:
        epochs = scale["large_epochs"] + scale["large_continue_epochs"]
        total += len(scale["large_seeds"]) * 2 * epochs * _mnist_train(scale) * (TRAIN_PASSES + 1) * _macs(
            "maxout", scale["units_large"])
    return total


def _maxout_evaluation(scale, models_attacked):
    test = 10000 if scale.get("test_size") is None else scale["test_size"]
    return models_attacked * test * (len(scale["eps_curve"]) + scale["pgd_steps"] * len(scale["masking_eps"])) * _macs(
        "maxout", scale["units"])


def _vgg(scale):
    return _macs("vgg", scale["width"])


def work(notebook, profile):
    """``(family, training MACs, evaluation MACs)`` of ``notebook`` at ``profile``; None if it has no estimate."""
    p = profiles.SCALES[profile]  # not profiles.get: $QUANOS_PROFILE (set while reproduce.sh runs) would override it
    if notebook.startswith("01"):
        return "mlp", 1, 1  # the same models and data at every profile but smoke
    if notebook.startswith("02"):
        s = p["maxout"]
        return "mlp", _maxout_training(s, budgets=[("epochs", "continue_epochs", 1, 0)]), _maxout_evaluation(s, 1)
    if notebook.startswith("03"):
        s = p["maxout"]
        budgets = [("epochs", "continue_epochs", 1, 0), ("epochs", "continue_epochs", 1, 1),
                   ("short_epochs", "short_continue_epochs", len(s["l1_coefficients"]) + 2, 1)]
        return "mlp", _maxout_training(s, budgets=budgets, large=True), _maxout_evaluation(s, 4)
    if notebook.startswith("04"):
        s = p["maxout"]
        budgets = [("ensemble_epochs", "ensemble_continue_epochs", s["ensemble_size"], 0),
                   ("short_epochs", "short_continue_epochs", 1, 0)]
        return "mlp", _maxout_training(s, budgets=budgets), _maxout_evaluation(s, s["ensemble_size"] + 3)
    if notebook.startswith("05"):
        s = p["conv_maxout"]
        train = 50000 if s.get("train_size") is None else s["train_size"]
        test = 10000 if s.get("test_size") is None else s["test_size"]
        macs = _macs("conv_maxout", s["width"])
        return "conv_maxout", s["epochs"] * train * TRAIN_PASSES * macs, test * len(s["eps_curve"]) * 2 * macs
    if notebook.startswith("06"):
        s = p["vgg"]
        train = 45000 if s.get("train_size") is None else round(0.9 * s["train_size"])
        removal = (s["removal_finetune_size"] or train) * s["finetune_epochs"] * TRAIN_PASSES
        evaluation = s["eval_size"] * 2 * (len(s["snapshot_epochs"]) + 12 * (2 + s["random_orders"]))
        return "vgg", s["epochs"] * train * TRAIN_PASSES * _vgg(s), (evaluation + 10 * removal) * _vgg(s)
    if notebook.startswith("07_quanos_cifar10"):
        s = p["vgg"]
        finetune = s["finetune_size"] or 45000
        clean = (len(s["seeds"]) * 3 + len(s["front_bits"]) + len(s["eps_panel"])) * s["quanos_epochs"] * TRAIN_PASSES
        adversarial = len(s["seeds"]) * 2 * s["adv_epochs"] * (TRAIN_PASSES + 2 * s["adv_steps"])
        curve = (len(s["curve_eps"]) + 1) * (2 + 2 * s["pgd_steps"])  # FGSM and PGD at every eps
        evaluation = (len(s["seeds"]) * 5 * s["attack_size"] + (len(s["front_bits"]) + 6) * s["front_size"]) * curve
        return "vgg", finetune * (clean + adversarial) * _vgg(s), evaluation * _vgg(s)
    if notebook.startswith("09"):  # the same MP-DBM and test images at cpu and full: only the epoch cap differs
        s = p["mpdbm"]
        return "mpdbm", s["epochs"] * _mnist_train(s), 1
    return None


def estimate_minutes(notebook, cpu_runtimes, *, training_seconds=None):
    """The estimated ``full`` GPU minutes of ``notebook`` from its ``cpu`` entry of ``_runtimes.json``
    (``{"training": {...}, "cached": {...}}``), or None without an estimate or a cpu measurement.
    ``training_seconds``: the cpu training time of its models where no run of the notebook trained them (they were
    trained beforehand into the cache; :func:`quanos_lib.results.training_seconds_by_notebook`)."""
    found = work(notebook, "full")
    if found is None or not cpu_runtimes:
        return None
    family, full_train, full_eval = found
    _, cpu_train, cpu_eval = work(notebook, "cpu")
    cached = cpu_runtimes.get("cached", {}).get("seconds")
    trained = cpu_runtimes.get("training", {}).get("seconds")
    if trained is None and cached is None:
        return None
    evaluation = cached if cached is not None else 0.0
    training = max(trained - evaluation, 0.0) if trained is not None else (training_seconds or 0.0)
    seconds = training * full_train / cpu_train + evaluation * full_eval / cpu_eval
    return seconds / 60 / gpu_speedup(family)


def full_minutes(notebooks):
    """``{notebook: estimated full GPU minutes or None}`` from the committed ``cpu`` run times
    (``results/cpu/_runtimes.json`` of the project, whatever profile is running; upper bounds at the epoch caps)."""
    import json
    folder = results.PROJECT_ROOT / "results" / "cpu"
    runtimes = json.loads((folder / "_runtimes.json").read_text()) if (folder / "_runtimes.json").exists() else {}
    trained = results.training_seconds_by_notebook("cpu", folder)
    return {notebook: estimate_minutes(notebook, runtimes.get(notebook, {}), training_seconds=trained.get(notebook))
            for notebook in notebooks}

