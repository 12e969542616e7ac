"""How long a notebook's ``full`` run should take on one GPU, until a measured ``full`` time replaces the estimate (the
README's run-time table, ``./reproduce.sh --profile full`` before it starts, a notebook's first output at ``full``).

    estimate = training (every model of the notebook's jobs, priced per step) + evaluation (scaled from cpu)

- **Training** is counted model by model from :func:`quanos_lib.jobs.plan` (the real list of models, each with its
  configuration and images): at the epoch caps (an upper bound where early stopping ends sooner), its steps, each
  costing ``passes x (launch + batch x MACs / rate)``: ``passes`` forward-pass equivalents per image
  (:func:`step_passes`: 3 for a plain step, forward and backward; 9 for an FGSM-adversarial one, 3k + 6 for PGD-k),
  ``MACs`` its multiply-accumulates per image, and per family of model a *launch* time per pass and a MAC *rate*
  from one measured epoch on one GPU (``GPU_EPOCH_SECONDS``, ``benchmarks/epoch_times.py``): the MNIST MLPs and the
  MP-DBM are bound by their kernel launches (rate: half of the GPU's fp32 peak; the launch time is what the
  measured step leaves, per layer with weights), VGG-19 and conv maxout by their arithmetic (no launch time; the
  rate is the measured one).
  Validation and the continued phase's monitor are counted the same way, at their forward passes.
- **Evaluation** (the attacks of a run whose models are cached) is the measured ``cpu`` time of that run scaled by
  the profiles' ratio of evaluation MACs, divided by the GPU's measured speed-up in MACs per second over the 2-core
  CPU (:func:`gpu_speedup`).

The GPU constants were measured on one NVIDIA H100 (80 GB) lent on 2026-11-24, with the training loop before its
sync-free rewrite; the prepared GPU check (``benchmarks/gpu_check.py``) measures them again when a GPU is lent.
"""
import collections
import functools
import hashlib
import json
import math
import pathlib

from . import energy, models, profiles, results, training

# benchmarks/epoch_times.py: seconds per training epoch, one epoch by the zoo's recipe after a warm-up
CPU_EPOCH_SECONDS = {"maxout240": 4.04, "mpdbm": 73.96, "vgg19_w0.125": 20.42, "conv_maxout_w0.25": 113.06}  # 2 cores
GPU_EPOCH_SECONDS = {"maxout240": 1.39, "mpdbm": 14.73, "vgg19_w1": 8.34, "conv_maxout_w1": 5.04}  # one H100
GPU_MACS_PER_SECOND = 0.5 * 67e12 / 2  # half of the H100's fp32 peak (67 TFLOP/s), in multiply-accumulates
# family: (its model at the `cpu` width, at the `full` width), each (benchmark name, kind for _macs, width),
# the benchmark's images and batch, and whether its steps are bound by kernel launches
FAMILY_MODELS = {
    "mlp": (("maxout240", "maxout", 240), ("maxout240", "maxout", 240)),
    "mpdbm": (("mpdbm", None, None), ("mpdbm", None, None)),
    "vgg": (("vgg19_w0.125", "vgg", 0.125), ("vgg19_w1", "vgg", 1.0)),
    "conv_maxout": (("conv_maxout_w0.25", "conv_maxout", 0.25), ("conv_maxout_w1", "conv_maxout", 1.0)),
}
BENCHMARK_EPOCH = {"mlp": (50000, 100), "mpdbm": (50000, 100), "vgg": (45000, 128), "conv_maxout": (50000, 128)}
# the launch-bound families, with the layers (modules with weights) of their benchmarked model: a model's launches
# are counted in proportion to its layers (a softmax regression launches about a third of the 3-layer maxout's)
LAUNCH_BOUND = {"mlp": 3, "mpdbm": 1}
TRAIN_PASSES = 3  # forward + backward (a backward costs about two forwards)


def family(name):
    """The family of a checkpoint name: ``vgg``, ``conv_maxout``, ``mpdbm`` or ``mlp`` (every MNIST MLP)."""
    return next((f for f in ("vgg", "conv_maxout", "mpdbm") if name.startswith(f)), "mlp")


def gpu_speedup(family):
    """How many times the GPU's MAC throughput exceeds the 2-core CPU's, training ``family``'s model."""
    (cpu_name, kind, cpu_width), (gpu_name, _, full_width) = FAMILY_MODELS[family]
    work_ratio = _macs(kind, full_width) / _macs(kind, cpu_width) if kind else 1.0
    return work_ratio * CPU_EPOCH_SECONDS[cpu_name] / GPU_EPOCH_SECONDS[gpu_name]


@functools.cache
def gpu_pass_costs(family):
    """``(launch seconds per pass and layer, MACs per second)`` of ``family`` on the GPU, from its measured epoch."""
    _, (gpu_name, kind, width) = FAMILY_MODELS[family]
    images, batch = BENCHMARK_EPOCH[family]
    macs = _macs(kind, width) if kind else 0
    step = GPU_EPOCH_SECONDS[gpu_name] / math.ceil(images / batch)
    if family in LAUNCH_BOUND:
        launch = (step - TRAIN_PASSES * batch * macs / GPU_MACS_PER_SECOND) / TRAIN_PASSES
        return launch / LAUNCH_BOUND[family], GPU_MACS_PER_SECOND
    return 0.0, TRAIN_PASSES * images * macs / GPU_EPOCH_SECONDS[gpu_name]


def step_passes(config):
    """Forward-pass equivalents per training image of one step of ``config`` (a backward counts two): 3 plain; an
    FGSM point adds its gradient (3) and its own forward and backward (3); PGD-k adds 3 per step; noise adds 3."""
    if config.adv_alpha is None:
        return TRAIN_PASSES
    attack = {"fgsm": TRAIN_PASSES, "pgd": TRAIN_PASSES * config.adv_steps}.get(config.adv_kind, 0)
    return 2 * TRAIN_PASSES + attack


def objective_passes(config):
    """Forward-pass equivalents per image of measuring the training objective (no step): validation's objective and
    the continued phase's monitor."""
    forwards = 1 if config.adv_alpha is None else 2  # the objective's forwards, each without its backward (two)
    return step_passes(config) - 2 * forwards


def validation_passes(config):
    """Forward-pass equivalents per validation image and epoch: its prediction (on attacked images, with the
    attack's gradients, when it early-stops on an attack) and its objective."""
    attack = 0 if config.val_adv_eps is None else TRAIN_PASSES * (config.adv_steps if config.val_adv_kind == "pgd"
                                                                   else 1)
    return 1 + attack + objective_passes(config)


# A stacked step's launches, as shares of the same step alone: one set shared by the stack, and per run its dropout
# draws and its loss (ops dispatched per step, counted on the CPU for a small maxout: naive 88 alone, 109 in a stack
# of one, 156 in a stack of five; FGSM-adversarial 160, 203, 310).
STACK_SHARED_LAUNCHES, STACK_PER_RUN_LAUNCHES = 1.1, 0.17


def training_seconds(planned, stack=1):
    """The GPU seconds of training one planned model (an entry of :func:`quanos_lib.jobs.plan`) at its epoch caps;
    trained in a ``stack`` of that many runs (:mod:`quanos_lib.stacking`), its steps pay their share of the stack's
    shared launches plus their own (``STACK_...``) and all their arithmetic; its validation and monitor passes run
    alone."""
    config, (launch, rate) = planned["config"], gpu_pass_costs(family(planned["name"]))
    launch *= planned["layers"]
    step_launch = launch if stack == 1 and not config.stacked else \
        launch * (STACK_SHARED_LAUNCHES / stack + STACK_PER_RUN_LAUNCHES)

    def passes(images, per_image, batch, each=launch):  # ``per_image`` passes over ``images`` in batches of ``batch``
        return per_image * (math.ceil(images / batch) * each + images * planned["macs"] / rate)

    train, val = planned["train_images"], planned["val_images"]
    epochs, continued = config.epochs, config.continue_epochs if val else 0
    seconds = epochs * passes(train, step_passes(config), config.batch_size, step_launch)
    if val:
        seconds += epochs * passes(val, validation_passes(config), 1000)
    if continued:  # the kept epochs' objective on the training images, then the continued phase and its monitor
        seconds += epochs * passes(train, objective_passes(config), 1000)
        seconds += continued * (passes(train + val, step_passes(config), config.batch_size, step_launch)
                                + passes(val, objective_passes(config), 1000))
    return seconds


@functools.cache
def _macs(kind, size):
    """MACs for one image: ``("vgg", width)``, ``("conv_maxout", width)``, ``("maxout", units)``."""
    if kind == "vgg":
        model, shape = models.VGG19(width=size), (3, 32, 32)
    elif kind == "conv_maxout":
        model, shape = models.ConvMaxoutNet(width=size), (3, 32, 32)
    else:
        model, shape = models.MaxoutMLP(units=size), (1, 28, 28)
    return sum(energy.mac_counts(model, shape).values())


def evaluation_work(notebook, profile):
    """``(family, evaluation MACs)`` of ``notebook`` at ``profile`` (the attacks of a run with every model cached);
    None if it has no estimate."""
    p = profiles.SCALES[profile]  # not profiles.get: $QUANOS_PROFILE (set while reproduce.sh runs) would override it
    if notebook.startswith("01"):
        return "mlp", 1  # the same models and data at every profile but smoke
    if notebook.startswith(("02", "03", "04")):
        s = p["maxout"]
        attacked = {"02": 1, "03": 4, "04": s["ensemble_size"] + 3}[notebook[:2]]
        test = 10000 if s.get("test_size") is None else s["test_size"]
        steps = len(s["eps_curve"]) + s["pgd_steps"] * len(s["masking_eps"])
        return "mlp", attacked * test * steps * _macs("maxout", s["units"])
    if notebook.startswith("05"):
        s = p["conv_maxout"]
        test = 10000 if s.get("test_size") is None else s["test_size"]
        return "conv_maxout", test * len(s["eps_curve"]) * 2 * _macs("conv_maxout", s["width"])
    if notebook.startswith("06"):
        s = p["vgg"]
        train = 45000 if s.get("train_size") is None else round(0.9 * s["train_size"])
        removal = (s["removal_finetune_size"] or train) * s["finetune_epochs"] * TRAIN_PASSES
        evaluation = s["eval_size"] * 2 * (len(s["snapshot_epochs"]) + 12 * (2 + s["random_orders"]))
        return "vgg", (evaluation + 10 * removal) * _macs("vgg", s["width"])
    if notebook == "07_quanos_cifar10":  # (its CIFAR-100 variant has no estimate: that data is not here)
        s = p["vgg"]
        curve = (len(s["curve_eps"]) + 1) * (2 + 2 * s["pgd_steps"])  # FGSM and PGD at every eps
        evaluation = (len(s["seeds"]) * 5 * s["attack_size"] + (len(s["front_bits"]) + 6) * s["front_size"]) * curve
        return "vgg", evaluation * _macs("vgg", s["width"])
    if notebook.startswith("09"):  # the same MP-DBM and test images at cpu and full
        return "mpdbm", 1
    return None


@functools.cache
def planned(profile, notebooks=None):
    """:func:`quanos_lib.jobs.plan` of ``profile`` (``notebooks``: a tuple of prefixes, or None for all), kept in
    the checkpoint cache under a hash of the library's source, so that only the first estimate after a code change
    builds every model (about a minute at ``full`` on 2 cores)."""
    from . import checkpoints, jobs
    sources = sorted(pathlib.Path(__file__).parent.glob("*.py"))
    code = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
    path = checkpoints.cache_dir() / "plans" / f"{profile}-{'-'.join(notebooks or ['all'])}-{code}.json"
    if path.exists():
        listed = json.loads(path.read_text())
    else:
        listed = [{**model, "config": model["config"].asdict(), "input_shape": list(model["input_shape"])}
                  for model in jobs.plan(profile, notebooks)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(listed))
    return tuple({**model, "config": training.TrainConfig(**model["config"])} for model in listed)


def notebook_name(prefix):
    """The notebook whose name starts with ``prefix`` (``"03"`` -> ``"03_adversarial_training"``)."""
    from . import jobs
    return next(name for name in jobs.NOTEBOOKS if name.startswith(prefix))


def _cpu_runtimes():
    path = results.PROJECT_ROOT / "results" / "cpu" / "_runtimes.json"  # the project's, whatever profile runs
    return json.loads(path.read_text()) if path.exists() else {}


def training_minutes(models):
    """GPU minutes of training the planned ``models``, the stacked runs of one job (and one network) sharing their
    stack's launches."""
    stacks = collections.Counter((m["job"], m["name"]) for m in models if m["config"].stacked)
    return sum(training_seconds(m, stacks.get((m["job"], m["name"]), 1)) for m in models) / 60


def alone_minutes(notebook):
    """GPU minutes of ``notebook`` at ``full`` run alone from an empty cache: training every model it asks for
    (:func:`quanos_lib.jobs.plan` of its jobs) plus its attacks (:func:`estimate_minutes`); None without an
    estimate."""
    estimate = estimate_minutes(notebook, _cpu_runtimes().get(notebook))
    if estimate is None:
        return None
    return training_minutes(planned("full", (notebook,))) + (estimate["evaluation"] or 0.0)


def estimate_minutes(notebook, cpu_runtimes=None):
    """``{"training": minutes, "evaluation": minutes or None}`` on one GPU for ``notebook`` at ``full``:
    training from the ``full`` plan of every notebook (each model counted in the first notebook that trains it,
    as a run of every notebook in order does); evaluation from its ``cpu`` entry of
    ``_runtimes.json`` (``{"cached": {"seconds": ...}}``; None without one). None without an estimate."""
    if evaluation_work(notebook, "full") is None:
        return None
    models = planned("full")
    training = training_minutes([m for m in models if m["notebook"] == notebook])
    cached = (cpu_runtimes or {}).get("cached", {}).get("seconds")
    evaluation = None
    if cached is not None:
        family_name, full_eval = evaluation_work(notebook, "full")
        evaluation = cached * full_eval / evaluation_work(notebook, "cpu")[1] / 60 / gpu_speedup(family_name)
    return {"training": training, "evaluation": evaluation}


def total(estimate):
    """An estimate's minutes, its unknown evaluation counted as none."""
    return estimate["training"] + (estimate["evaluation"] or 0.0)


def full_minutes(notebooks):
    """``{notebook: estimated full GPU minutes or None}`` (:func:`estimate_minutes`, the evaluation from the
    committed ``cpu`` run times of the project, whatever profile is running; upper bounds at the epoch caps)."""
    runtimes = _cpu_runtimes()
    found = {notebook: estimate_minutes(notebook, runtimes.get(notebook)) for notebook in notebooks}
    return {notebook: None if estimate is None else total(estimate) for notebook, estimate in found.items()}
