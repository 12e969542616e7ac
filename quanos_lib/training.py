"""One training loop for every model of the companion, and seeding. (Measuring a trained model is
:mod:`quanos_lib.evaluation`'s job.)

:func:`train` is SGD with momentum over in-memory tensors, with

- schedules, as pylearn2 computes them (:func:`learning_rate`, :func:`momentum`): learning rate
  ``max(lr / lr_decay**t, lr_min)`` at step t (``ExponentialDecay``), or falling linearly from ``lr`` in the first
  epoch to ``lr * lr_linear_final`` in epoch ``lr_linear_epochs`` and after (``LinearDecayOverEpoch``); momentum
  rising linearly from ``momentum`` to ``momentum_final``, reached in epoch ``momentum_epochs`` (``MomentumAdjustor``);
  a module with an ``lr_scale`` attribute learns at that multiple of the rate (the conv layers of the conv maxout
  network);
- the FGSM paper's adversarial objective ``alpha * J(x, y) + (1 - alpha) * J(x_fgsm, y)`` with
  ``x_fgsm`` recomputed from the current model at every mini-batch and treated as a constant
  (no gradient through the sign); choice: it is computed with the model in eval mode (no dropout), or, with
  ``adv_dropout``, in training mode (the gradient of the dropout objective itself, a fresh dropout mask);
  ``adv_kind="sign_noise"`` / ``"uniform_noise"`` replace ``x_fgsm`` by ``x`` plus random ``+-eps``
  sign noise / ``U(-eps, eps)`` noise (F12), keeping the clean term (the same alpha); ``adv_kind="pgd"``
  by PGD with ``adv_steps`` steps and a random start drawn anew for every mini-batch (Madry et al., 2018;
  their objective is ``adv_alpha=0``);
- an optional L1 penalty ``l1 * ||W||_1`` on the first layer's weight (the paper's "L1 weight decay");
- an optional max-norm constraint on each unit's (or filter's) incoming weights, applied after every
  step; a module with a ``max_norm`` attribute uses its own limit;
- optional data augmentation on tensors: random crops after zero padding, and horizontal flips;
- early stopping on a validation split (best epoch kept; optionally on its FGSM error, as for F8),
  then optionally continued training on train + validation (the maxout paper's protocol, as its pylearn2 files
  run it: :func:`continued_config`, and the stop rule of :func:`train`'s ``match``);
- a seed that fixes everything.

:func:`trained_model` wraps it with :mod:`quanos_lib.checkpoints`, so a model is trained once per
configuration and reused by every notebook that asks for the same one; the history it returns names the
configuration that trained the model, so results record what ran, never a description rebuilt by hand.
"""
import contextlib
import copy
import dataclasses
import os
import pathlib
import platform
import random
import re
import socket
import time
import warnings

import numpy as np
import torch
from torch import nn

from . import attacks, checkpoints, data, evaluation, models, paper
from .progress import bar as progress_bar


def seed_everything(seed):
    """Seed Python, NumPy and torch and ask torch for deterministic kernels, so a run gives the same numbers for
    the same seed on the same machine (on a GPU, cuBLAS needs a fixed workspace for that: set before its first
    use unless the user chose one)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    # ... without filling every new tensor first (deterministic mode's default): nothing here reads memory it did not
    # write, and the fill tripled the kernels of a step
    torch.utils.deterministic.fill_uninitialized_memory = False


def pin_threads(threads=None):
    """Fix torch's CPU threads for this process to ``threads``, else ``$QUANOS_THREADS``, else torch's default (one
    per core), and return the count. Trained weights depend on it (a reduction splits its sums by thread), so the
    runner sets one count for every notebook it runs and every result records it (:func:`compute_info`)."""
    threads = threads or int(os.environ.get("QUANOS_THREADS") or 0) or torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def compute_info():
    """What a CPU result depends on beyond profile, seed and code: torch's version and threads, the BLAS it calls,
    the instruction set its kernels use, and the processor (``{"torch": "2.14.1", "threads": 2, "blas": "mkl",
    "cpu_capability": "AVX512", "cpu": "GenuineIntel family 6 model 167 (...)"}``, :func:`cpu_name`)."""
    build = torch.__config__.show()
    found = {key: re.search(pattern, build) for key, pattern in
             (("blas", r"BLAS_INFO=(\w+)"), ("cpu_capability", r"CPU capability usage: (\w+)"))}
    return {"torch": str(torch.__version__), "threads": torch.get_num_threads(),
            **{key: match.group(1) if match else "unknown" for key, match in found.items()}, "cpu": cpu_name()}


# The vector extensions a BLAS chooses its kernels by (seen here: an AMD EPYC and an Intel Xeon host, both reporting
# AVX512 to torch, trained notebook 01's and 09's models differently at 2 threads; README, "Determinism").
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
UNKNOWN_CPU = "unknown"  # the start of cpu_name() where the processor cannot be identified: never compared as equal


def cpu_name(cpuinfo=None):
    """The processor, for the record: on x86, vendor, family and model, its name and the vector extensions of
    :data:`_ISA_FLAGS` it has; on ARM, the implementer and part; read from ``/proc/cpuinfo`` (``cpuinfo``: its text,
    for tests). Two machines that differ here can round a matrix product differently, and a model trained for many
    epochs then ends elsewhere. Where nothing identifies the processor (no ``/proc/cpuinfo``, e.g. macOS; a
    hypervisor that hides it), ``"unknown (<machine>)"``, which :mod:`quanos_lib.result_check` never takes for
    the same processor as another."""
    if cpuinfo is None:
        try:
            cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    first = cpuinfo.split("\n\n")[0]
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first.splitlines())
              if value.strip()}
    if "vendor_id" in fields:  # x86
        flags = set(fields.get("flags", "").split())
        isa = " ".join(flag for flag in _ISA_FLAGS if flag in flags)
        return (f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
                f" ({fields.get('model name', '?')}; {isa or 'no AVX2'})")
    if "CPU implementer" in fields:  # ARM: the part number names the core (e.g. 0xd0c, Neoverse N1)
        return (f"ARM implementer {fields['CPU implementer']} part {fields.get('CPU part', '?')}"
                f" ({platform.machine() or 'arm'})")
    return f"{UNKNOWN_CPU} ({platform.machine() or platform.processor() or '?'})"


def trained_on():
    """What a model was trained on, for its checkpoint's history: the device (:func:`device_name`) and
    :func:`compute_info`. Neither enters the cache key, so a result names them for each model it reads; a run resumed
    elsewhere records the process that finished it."""
    return {"device": device_name(), **compute_info()}


def default_device():
    """Where models train: the GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device=None):
    """What a run computes on, for the record: ``"cpu"`` or ``"cuda: <the GPU's name>"``."""
    device = torch.device(device or default_device())
    return f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int = 100
    lr: float = 0.1
    lr_decay: float = 1.0            # lr at step t: max(lr / lr_decay**t, lr_min)
    lr_min: float = 0.0
    lr_linear_final: float = None    # else: lr falls linearly to lr * lr_linear_final ...
    lr_linear_epochs: int = 1        # ... reached in this epoch (1-based; the first epoch runs at lr)
    momentum: float = 0.0
    momentum_final: float = None     # None: constant momentum
    momentum_epochs: int = 1         # momentum_final is reached in this epoch (1-based)
    adv_alpha: float = None          # None: clean training; else alpha*J(x) + (1-alpha)*J(x_perturbed)
    adv_eps: float = paper.FGSM_EPS_MNIST
    adv_clip: tuple = (0.0, 1.0)     # None: the paper's unclipped perturbation
    adv_kind: str = "fgsm"           # "fgsm", "pgd", or random "sign_noise" / "uniform_noise" of size eps
    adv_steps: int = 7               # PGD's steps when adv_kind="pgd"
    adv_dropout: bool = False        # FGSM's gradient in training mode (dropout on) instead of eval mode
    l1: float = 0.0                  # L1 penalty on the first layer's weight
    max_col_norm: float = None       # max L2 norm of each unit's incoming weights
    augment_padding: int = 0         # random crops of the zero-padded image (0: none)
    augment_flip: bool = False       # random horizontal flips
    weight_decay: float = 0.0        # L2 weight decay (SGD's own)
    snapshot_epochs: tuple = ()      # keep the weights after these epochs in history["snapshots"]
    patience: int = None             # early stopping: epochs without validation improvement
    val_adv_eps: float = None        # early-stop on the validation set's FGSM error at this eps instead ...
    val_adv_kind: str = "fgsm"       # ... or, "pgd", on its error under PGD (adv_steps, random start, scored as
                                     # attacks.pgd's stop_when_fooled: no iterate may fool an image)
    continue_epochs: int = 0         # then continue on train + validation for at most this many epochs
    allow_tf32: bool = False         # TF32 matmuls and convolutions on a GPU (faster, fewer mantissa bits): opt-in
    compile_step: bool = False       # the step's forward and backward through torch.compile (CUDA graphs on a
                                     # GPU): not bitwise the eager step, so it is part of the key
    stacked: bool = False            # trained in one step with the other runs of its stack (trained_models):
                                     # not bitwise the run alone, so part of the key; set by the profile
    seed: int = 0

    def asdict(self):
        return dataclasses.asdict(self)

    def changes(self):
        """The fields that differ from their defaults: the checkpoint key, so that adding a field with a
        default later leaves every existing checkpoint valid."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.default is dataclasses.MISSING or getattr(self, f.name) != f.default}


def first_layer(model):
    """The first module with a weight (the layer the paper's L1 weight decay acts on)."""
    return next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def perturb(model, x, y, config):
    """The perturbed batch of the training objective: FGSM, or random noise of size ``adv_eps``."""
    if config.adv_kind == "fgsm":  # detached: a constant
        return attacks.fgsm(model, x, y, config.adv_eps, clip=config.adv_clip, eval_mode=not config.adv_dropout)
    if config.adv_kind == "pgd":  # its random start from the seeded global generator: a new one per batch
        return attacks.pgd(model, x, y, config.adv_eps, steps=config.adv_steps, clip=config.adv_clip,
                           seed=int(torch.randint(2 ** 31 - 1, (), device="cpu")))  # a seed, from the CPU's generator
    if config.adv_kind == "sign_noise":
        noise = config.adv_eps * torch.randint(0, 2, x.shape, device=x.device).mul(2).sub(1).to(x.dtype)
    elif config.adv_kind == "uniform_noise":
        noise = torch.empty_like(x).uniform_(-config.adv_eps, config.adv_eps)
    else:
        raise ValueError(f"unknown adv_kind {config.adv_kind!r}")
    x_noisy = x + noise
    return x_noisy.clamp(*config.adv_clip) if config.adv_clip is not None else x_noisy


def _objective(model, x, y, config):
    """The training loss of one mini-batch, and the clean outputs (for the running training error). A model with its
    own ``training_loss(x, y)`` (the MP-DBM's multi-prediction objective) is trained on that instead."""
    if hasattr(model, "training_loss"):
        if config.adv_alpha is not None:
            raise ValueError(f"{type(model).__name__} trains on its own objective: no adversarial objective for it")
        with torch.no_grad():
            outputs = model(x)
        return model.training_loss(x, y), outputs
    x_perturbed = perturb(model, x, y, config) if config.adv_alpha is not None else None
    outputs = model(x)
    loss = models.loss(model, outputs, y)
    if x_perturbed is not None:
        loss = config.adv_alpha * loss + (1 - config.adv_alpha) * models.loss(model, model(x_perturbed), y)
    if config.l1:
        loss = loss + config.l1 * first_layer(model).weight.abs().sum()
    return loss, outputs


def _compiled_model(model):
    """``model`` compiled by torch.compile for the training step: on a GPU as CUDA graphs (``reduce-overhead``: the
    forward's and the backward's hundreds of kernel launches replayed as two graphs; dropout keeps drawing fresh masks,
    from inductor's own random stream), elsewhere by inductor's default mode. The SGD update stays eager: on a GPU it
    is the fused kernel already, and compiling it would recompile each epoch, as the momentum ramp changes a float it
    reads. Where compiling fails (no C++ compiler, say), torch falls back to the eager model with a warning
    (``suppress_errors``): the run still trains."""
    torch._dynamo.config.suppress_errors = True
    return torch.compile(model, mode="reduce-overhead" if models.device(model).type == "cuda" else "default",
                         dynamic=False)


def _validate(model, split, config):
    """Validation error (on FGSM or PGD examples if ``val_adv_eps``) and the objective on the split, in eval mode.
    On the model's device, one host read each (the error is the mean of the wrong predictions, as
    :func:`quanos_lib.evaluation.summarize` computes it)."""
    if config.val_adv_kind not in ("fgsm", "pgd"):
        raise ValueError(f"unknown val_adv_kind {config.val_adv_kind!r}: 'fgsm' or 'pgd'")
    attack = ({"attack": attacks.pgd, "steps": config.adv_steps, "seed": config.seed, "stop_when_fooled": True}
              if config.val_adv_kind == "pgd" else {})
    dev = models.device(model)
    with models.eval_mode(model):
        measured = (split if config.val_adv_eps is None else
                    evaluation.attacked(model, split, config.val_adv_eps, clip=config.adv_clip, **attack))
        with torch.no_grad():
            predicted = torch.cat([models.probabilities(model, model(xb.to(dev))).argmax(1)
                                   for xb, _ in measured.batches(1000)])
        error = (predicted != measured.y.to(dev)).float().mean().item()
        return error, _mean_objective(model, split, config)


def _mean_objective(model, split, config):
    """The training objective's mean over ``split``, no step taken, in the mode the model is in (summed on the
    device in float64, one host read)."""
    dev = models.device(model)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    with torch.no_grad():  # FGSM inside the objective still takes its gradient
        for xb, yb in split.batches(1000):
            total += _objective(model, xb.to(dev), yb.to(dev), config)[0].double() * len(yb)
    return total.item() / len(split)


def monitored_objective(model, split, config):
    """The training objective over ``split`` as pylearn2's monitor measures it after an epoch (its ``*_objective``
    channels: the training cost's expression, dropout included, over the whole split): the quantity the continued
    phase's stop rule compares (:func:`train`'s ``match``). Its random draws (dropout masks, noise) come from a fork of
    the generators, so measuring leaves the training's random stream as it was."""
    dev = models.device(model)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        was_training = model.training
        model.train()
        try:
            return _mean_objective(model, split, config)
        finally:
            model.train(was_training)


def momentum(config, epoch):
    """The momentum of the 0-based ``epoch``: pylearn2's ``MomentumAdjustor(start=1, saturate=momentum_epochs - 1)``
    (the maxout paper's ``start: 1, saturate: 250`` is ``momentum_epochs=251``): ``momentum`` in the first two epochs,
    then rising linearly to ``momentum_final``, reached in epoch ``momentum_epochs`` (1-based) and kept."""
    if config.momentum_final is None:
        return config.momentum
    ramp = config.momentum_epochs - 2  # pylearn2's saturate - start
    if ramp <= 0:  # pylearn2's saturate == start: the final value from that epoch on
        progress = 1.0 if epoch >= config.momentum_epochs - 1 else 0.0
    else:
        progress = min(max((epoch - 1) / ramp, 0.0), 1.0)
    return config.momentum + progress * (config.momentum_final - config.momentum)


def learning_rate(config, step, epoch):
    """The learning rate of the 0-based ``step`` in the 0-based ``epoch``: ``max(lr / lr_decay**step, lr_min)``
    (pylearn2's ``ExponentialDecay``), or with ``lr_linear_final`` pylearn2's
    ``LinearDecayOverEpoch(start=1, saturate=lr_linear_epochs - 1, decay_factor=lr_linear_final)``: ``lr`` in the
    first epoch, falling by equal steps to ``lr * lr_linear_final``, reached in epoch ``lr_linear_epochs`` (1-based:
    the last epoch of a run with ``lr_linear_epochs = epochs``) and kept (the maxout paper's ``saturate: 500`` is
    ``lr_linear_epochs=501``)."""
    if config.lr_linear_final is not None:
        span = config.lr_linear_epochs - 1  # pylearn2's saturate
        progress = 1.0 if span <= 0 else min(epoch / span, 1.0)
        return config.lr * (1 - progress * (1 - config.lr_linear_final))
    return max(config.lr / config.lr_decay ** step, config.lr_min)


def continued_config(config, history):
    """The configuration of the continued phase after early stopping, as the maxout paper's
    ``mnist_pi_continued.yaml`` sets it: it starts from the kept epoch's weights with the schedules where they stood
    there (that file's learning rate 0.0615 and momentum 0.694 are the values after 243 epochs): the learning rate of
    the next step, decaying on by the same factor per step (a linear decay holds that rate), and that epoch's momentum,
    held (the file has no ``MomentumAdjustor``). No early stopping: :func:`train`'s ``match`` ends it."""
    kept = history["best_epoch"] + 1  # epochs finished at the kept point
    return dataclasses.replace(
        config, lr=learning_rate(config, history["best_step"], kept), lr_linear_final=None,
        momentum=momentum(config, kept), momentum_final=None, patience=None, val_adv_eps=None, continue_epochs=0,
        snapshot_epochs=())


def _param_groups(model):
    """One optimizer group per learning-rate multiple (``lr_scale`` on a module; 1 by default)."""
    groups = {}
    for module in model.modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if params:
            groups.setdefault(getattr(module, "lr_scale", 1.0), []).extend(params)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


def _max_norm_layers(model, max_norm):
    """``[(weight, limit)]`` of the layers the max-norm constraint holds, found once per run (a module's own
    ``max_norm`` wins over the configuration's)."""
    found = ((module, getattr(module, "max_norm", max_norm)) for module in model.modules())
    return [(module.weight, limit) for module, limit in found
            if limit is not None and isinstance(module, (nn.Linear, nn.Conv2d))]


@torch.no_grad()
def _apply_max_norm(layers):
    for weight, limit in layers:  # dim 0 of W indexes the units (rows of a linear map) or filters (out x in x kh x kw)
        weight.copy_(torch.renorm(weight, 2, 0, limit))


def _random_state(generators):
    """Every random stream a run draws from: its own generators and torch's global ones (dropout, PGD starts)."""
    state = {name: generator.get_state() for name, generator in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_random_state(generators, state):
    for name, generator in generators.items():
        generator.set_state(state[name])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeFile:
    """Where a run keeps its full state while it trains (:func:`train`'s ``resume``): ``path``, and ``tag``, what the
    state must belong to (the checkpoint's key and the phase); a file of another tag, or unreadable, is ignored with
    one warning line. Written atomically (a crash mid-write leaves the previous state)."""

    def __init__(self, path, tag):
        self.path, self.tag = pathlib.Path(path), tag

    def load(self):
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if state.get("tag") != self.tag:
                raise ValueError("it belongs to another run")
            return state
        except Exception as error:  # truncated, corrupt or another run's: start over, loudly
            warnings.warn(f"resume file {self.path.name} ignored ({type(error).__name__}: {error})", stacklevel=3)
            return None

    def save(self, state):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{socket.gethostname()}.{os.getpid()}.partial")
        torch.save({**state, "tag": self.tag}, partial)
        os.replace(partial, self.path)

    def remove(self):
        self.path.unlink(missing_ok=True)


def train(model, train_split, config, *, val_split=None, match=None, epochs=None, progress=True, resume=None,
          resume_every=None):
    """Train ``model`` in place on ``train_split`` (a :class:`quanos_lib.data.Split`).

    With ``val_split``, the epoch with the lowest validation error is kept (early stopping after
    ``config.patience`` epochs without improvement). ``match``: ``(split, target)``, stop once the objective on
    ``split`` measured after an epoch (:func:`monitored_objective`) has fallen to ``target`` (pylearn2's
    ``MatchChannel``, the continued phase's rule); ``epochs`` overrides ``config.epochs``.
    Returns the history: per epoch ``loss``, ``train_error`` (running over the epoch, clean inputs,
    in training mode), ``val_error`` and ``val_loss`` (with a validation split, eval mode), ``lr``, ``momentum``;
    ``best_epoch`` (0-based), ``best_step`` (the steps taken by its end) and ``best_val_loss``; with
    ``config.continue_epochs``, ``best_train_objective``, the monitored objective on ``train_split`` at the kept epoch
    (the continued phase's target); with ``match``, ``match_objective`` per epoch; and ``snapshots``:
    ``{epoch: state dict}`` for ``config.snapshot_epochs``; ``threads``, torch's CPU threads (the weights depend on it).

    ``resume``: a :class:`ResumeFile`. The run saves its full state there (weights, optimizer, every random stream,
    the schedules' position, the early-stopping bookkeeping, the history) after an epoch once ``resume_every``
    seconds (default ``$QUANOS_RESUME_SECONDS``, else 60) have passed since the last save, and a run started again with
    the same file continues from it: killed and
    restarted, it ends with bitwise the same weights and history as an uninterrupted one. The loop reads the device
    once per epoch (the running loss and error stay on it; the order of the mini-batches is drawn on the CPU and
    uploaded once), so a GPU never waits on the host inside an epoch.
    """
    seed_everything(config.seed)
    dev = default_device()
    model.to(dev)
    # fp32 arithmetic unless the configuration (and so the checkpoint's key) says otherwise; no effect on a CPU
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = config.allow_tf32
    groups = _param_groups(model)
    for group in groups:  # a tensor on the device, filled each step: setting it reads nothing back
        group["lr"] = torch.tensor(config.lr * group["lr_scale"], device=dev)
    # on a GPU the fused kernel takes the tensor rate without reading it back (the others call .item() on it)
    optimizer = torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=config.momentum, weight_decay=config.weight_decay,
                                fused=dev.type == "cuda" or None)
    constrained = _max_norm_layers(model, config.max_col_norm)
    stepped = _compiled_model(model) if config.compile_step else model
    images, labels = train_split.x.to(dev), train_split.y.to(dev)  # the split on the device, once
    shuffle = torch.Generator().manual_seed(config.seed)  # the order is drawn on the CPU, as always
    augment = torch.Generator().manual_seed(config.seed + 1)
    history = {"loss": [], "train_error": [], "val_error": [], "val_loss": [], "lr": [], "momentum": [],
               "best_epoch": None, "best_step": None, "best_val_loss": None, "snapshots": {},
               "threads": torch.get_num_threads()}
    if match is not None:
        history["match_objective"] = []
    best_error, best_state, since_best, step, first = float("inf"), None, 0, 0, 0
    generators = {"shuffle": shuffle, "augment": augment}
    saved = resume.load() if resume is not None else None
    if saved is not None:  # continue where the run that saved it stopped
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        _restore_random_state(generators, saved["random"])
        history, best_state = saved["history"], saved["best_state"]
        best_error, since_best, step, first = saved["best_error"], saved["since_best"], saved["step"], saved["epoch"]
    last_save = time.perf_counter()
    resume_every = float(os.environ.get("QUANOS_RESUME_SECONDS", 60)) if resume_every is None else resume_every
    epoch_range = range(first, config.epochs if epochs is None else epochs)
    with progress_bar(epoch_range, desc="training", unit="epoch", disable=not progress, initial=first) as bar:
        for epoch in bar:
            model.train()
            epoch_momentum = momentum(config, epoch)
            for group in optimizer.param_groups:
                group["momentum"] = epoch_momentum
            # the running loss (float64, as the host's sum was) and error count stay on the device: one read per epoch
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            wrong, seen = torch.zeros((), dtype=torch.long, device=dev), 0
            order = torch.randperm(len(labels), generator=shuffle, device=shuffle.device).to(dev)  # one upload an epoch
            for index in order.split(config.batch_size):
                x, y = data.to_float(images[index]), labels[index]
                if config.augment_padding or config.augment_flip:
                    x = data.random_crop_flip(x, config.augment_padding, config.augment_flip, augment)
                lr = learning_rate(config, step, epoch)
                for group in optimizer.param_groups:
                    group["lr"].fill_(lr * group["lr_scale"])
                loss, outputs = _objective(stepped, x, y, config)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                _apply_max_norm(constrained)
                wrong += (outputs.argmax(1) != y).sum()
                loss_sum += loss.detach().double() * len(y)
                seen += len(y)
                step += 1
            history["loss"].append(loss_sum.item() / seen)
            history["train_error"].append(wrong.item() / seen)
            history["lr"].append(lr)
            history["momentum"].append(epoch_momentum)
            if epoch + 1 in config.snapshot_epochs:
                history["snapshots"][str(epoch + 1)] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if val_split is not None:
                val_error, val_loss = _validate(model, val_split, config)
                history["val_error"].append(val_error)
                history["val_loss"].append(val_loss)
                if val_error < best_error:
                    best_error, best_state, since_best = val_error, copy.deepcopy(model.state_dict()), 0
                    history["best_epoch"], history["best_step"], history["best_val_loss"] = epoch, step, val_loss
                    if config.continue_epochs:  # the continued phase's target, measured as its stop rule measures
                        history["best_train_objective"] = monitored_objective(model, train_split, config)
                else:
                    since_best += 1
                bar.set_postfix(val_error=f"{val_error:.4f}")
                if config.patience is not None and since_best >= config.patience:
                    break
            if match is not None:
                history["match_objective"].append(monitored_objective(model, match[0], config))
                if history["match_objective"][-1] <= match[1]:
                    break
            if resume is not None and time.perf_counter() - last_save >= resume_every:
                resume.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "random": _random_state(generators), "history": history, "best_state": best_state,
                             "best_error": best_error, "since_best": since_best, "step": step, "epoch": epoch + 1})
                last_save = time.perf_counter()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def at_snapshot(model, history, epoch):
    """A copy of a trained ``model`` with the weights its training kept after ``epoch`` (``history["snapshots"]``,
    :class:`TrainConfig`'s ``snapshot_epochs``), in eval mode; ``model`` is left as it was."""
    snapshot = copy.deepcopy(model)
    snapshot.load_state_dict(history["snapshots"][str(epoch)])
    return snapshot.eval()


_DRY_RUN = None  # inside dry_run(): (images per split, the list of planned models)


@contextlib.contextmanager
def dry_run(images=8, *, steps=True, exact_keys=True):
    """Check training configurations without training: inside this block :func:`trained_model` neither reads nor
    writes the checkpoint cache; it builds each model and trains it by its own configuration (architecture,
    optimizer, schedule, objective, early-stopping rule) for one epoch on its first ``images`` training images
    (one mini-batch: one step; one more for ``continue_epochs``), validating on as many validation images, and returns
    it as if trained. A configuration that cannot build, train or be evaluated then fails in seconds, not after hours
    on a GPU (``tests/test_full_profile.py`` runs every model of the ``full`` profile this way).

    Yields the list of the models asked for, each as it would have been trained: ``name``, ``checkpoint`` (its
    file name in the cache), ``config`` (its :class:`TrainConfig`), ``train_images``, ``val_images``, ``input_shape``
    and ``model`` (untrained) — what :func:`quanos_lib.jobs.plan` counts. ``steps=False``: no step either (each model
    is returned untrained, with an empty history), to list the models of a profile in seconds; ``exact_keys=False``:
    ``checkpoint`` names from the tensors' shapes, not their values (faster; not the cache's names)."""
    global _DRY_RUN
    previous, _DRY_RUN = _DRY_RUN, (images, [], steps, exact_keys)
    try:
        yield _DRY_RUN[1]
    finally:
        _DRY_RUN = previous


def dry_run_subset(split):
    """``split``, or its first few images inside :func:`dry_run` (for work around training, such as ANS, that a
    dry run need not do in full)."""
    return split if _DRY_RUN is None else split.subset(min(_DRY_RUN[0], len(split)))


def _cache_key(name, untrained, config, train_split, val_split, start=None):
    key = {"name": name, "model": repr(untrained), "config": config.changes(),
           "shapes": {k: list(v.shape) for k, v in untrained.state_dict().items()},
           "train": train_split, "val": val_split}
    if start is not None:  # only then: every checkpoint trained from scratch keeps its key
        key["start"] = start
    return key


def trained_model(name, build, train_split, config, *, val_split=None, start=None, progress=True):
    """``build()`` seeded with ``config.seed`` and trained on ``train_split``, or the cached copy.

    With ``val_split``: early stopping on it, then, if ``config.continue_epochs``, training goes on over
    ``train_split`` + ``val_split`` from the kept epoch, its schedules where they stood there (:func:`continued_config`),
    until the objective on ``val_split`` falls to the one ``train_split`` had at the kept epoch, both measured as
    pylearn2's monitor does (:func:`monitored_objective`), or the epochs run out: the maxout paper's protocol, as its
    ``mnist_pi_continued.yaml`` runs it (``MatchChannel`` of ``valid_objective`` against the first run's
    ``train_objective``). Its history is ``history["continued"]``.
    The cache key is the model's architecture, ``config`` and the exact training (and validation)
    tensors, so a model is reused only when it would be trained identically on the same processor and thread count
    (neither is in the key: ``history["trained_on"]``, :func:`trained_on` at training time, records them).
    ``start``: the state dict ``build()`` loads when it continues from trained weights (fine-tuning);
    it joins the key, so new starting weights mean a new model.
    Returns ``(model, history)``: ``history["seconds"]`` is the training time of the original run,
    ``history["config"]`` the configuration that trained the model and ``history["checkpoint"]`` its file name
    in the cache (both added on return, not stored in the checkpoint).
    """
    seed_everything(config.seed)
    untrained = build()
    key = _cache_key(name, untrained, config, train_split, val_split, start)

    def build_seeded():
        seed_everything(config.seed)
        return build()

    checkpoint = checkpoints.path_for(name, key, exact=_DRY_RUN is None or _DRY_RUN[3])
    resumes = {phase: ResumeFile(checkpoint.with_name(f"{checkpoint.stem}.{phase}.resume"), f"{checkpoint.stem}:{phase}")
               for phase in ("first", "first-done", "continued")}  # each phase's state while it trains

    def fit(model, resume=True):
        start = time.perf_counter()
        continuing = val_split is not None and config.continue_epochs
        done = resumes["first-done"].load() if resume and continuing else None
        if done is None:
            history = train(model, train_split, config, val_split=val_split, progress=progress,
                            resume=resumes["first"] if resume else None)
            if resume and continuing:  # a restart during the continued phase does not redo the first
                resumes["first-done"].save({"model": model.state_dict(), "history": history})
        else:
            model.load_state_dict(done["model"])
            history = done["history"]
        if continuing:
            everything = data.Split(torch.cat([train_split.x, val_split.x]), torch.cat([train_split.y, val_split.y]))
            history["continued"] = train(model, everything, continued_config(config, history),
                                         match=(val_split, history["best_train_objective"]),
                                         epochs=config.continue_epochs, progress=progress,
                                         resume=resumes["continued"] if resume else None)
        history["seconds"] = time.perf_counter() - start  # this process's share, where a run was resumed
        history["trained_on"] = trained_on()  # the cache key names neither the processor nor the threads
        return history

    if _DRY_RUN is not None:  # one step on a few images, and no cache (see dry_run)
        _DRY_RUN[1].append({"name": name, "checkpoint": checkpoint.name, "config": config, "model": untrained,
                            "train_images": len(train_split), "val_images": 0 if val_split is None else len(val_split),
                            "input_shape": tuple(train_split.x.shape[1:])})
        train_split = dry_run_subset(train_split)
        val_split = dry_run_subset(val_split) if val_split is not None else None
        config = dataclasses.replace(config, epochs=1, continue_epochs=min(config.continue_epochs, 1))
        progress = False  # read by fit(): no bar for one step
        model = build_seeded() if _DRY_RUN[2] else untrained
        history = fit(model, resume=False) if _DRY_RUN[2] else {
            "loss": [], "train_error": [], "val_error": [], "val_loss": [], "best_epoch": None, "snapshots": {},
            "seconds": 0.0}
    else:
        model, history = checkpoints.load_or_train(name, key, build_seeded, fit)
        for resume_file in resumes.values():  # the finished checkpoint replaces them
            resume_file.remove()
    history = dict(history, config=config.asdict(), checkpoint=checkpoint.name)
    return model.to(default_device()).eval(), history

