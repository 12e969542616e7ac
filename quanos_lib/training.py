"""One training loop for every model of the companion, plus evaluation and seeding.

:func:`train` is SGD with momentum over in-memory tensors, with

- schedules: learning rate ``max(lr / lr_decay**t, lr_min)`` at step t, momentum rising linearly
  from ``momentum`` to ``momentum_final`` by epoch ``momentum_epochs`` (the pylearn2 schedules);
- the FGSM paper's adversarial objective ``alpha * J(x, y) + (1 - alpha) * J(x_fgsm, y)`` with
  ``x_fgsm`` recomputed from the current model at every mini-batch and treated as a constant
  (no gradient through the sign); choice: it is computed with the model in eval mode (no dropout);
- an optional L1 penalty ``l1 * ||W||_1`` on the first layer's weight (the paper's "L1 weight decay");
- an optional max-norm constraint on each unit's incoming weights, applied after every step;
- early stopping on a validation split (best epoch kept), and a seed that fixes everything.

:func:`trained_model` wraps it with :mod:`quanos_lib.checkpoints`, so a model is trained once per
configuration and reused by every notebook that asks for the same one.
"""
import copy
import dataclasses
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import attacks, checkpoints


def seed_everything(seed):
    """Seed Python, NumPy and torch and ask torch for deterministic kernels, so a run on the CPU
    gives the same numbers for the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int = 100
    lr: float = 0.1
    lr_decay: float = 1.0            # lr at step t: max(lr / lr_decay**t, lr_min)
    lr_min: float = 0.0
    momentum: float = 0.0
    momentum_final: float = None     # None: constant momentum
    momentum_epochs: int = 1         # momentum reaches momentum_final at this epoch
    adv_alpha: float = None          # None: clean training; else alpha*J(x) + (1-alpha)*J(x_fgsm)
    adv_eps: float = 0.25
    adv_clip: tuple = (0.0, 1.0)     # None: the paper's unclipped perturbation
    l1: float = 0.0                  # L1 penalty on the first layer's weight
    max_col_norm: float = None       # max L2 norm of each unit's incoming weights
    patience: int = None             # early stopping: epochs without validation improvement
    seed: int = 0

    def asdict(self):
        return dataclasses.asdict(self)


def first_layer(model):
    """The first module with a weight (the layer the paper's L1 weight decay acts on)."""
    return next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def _objective(model, x, y, config):
    """The training loss of one mini-batch, and the clean logits (for the running training error)."""
    x_adv = None
    if config.adv_alpha is not None:  # a constant: fgsm returns a detached tensor
        x_adv = attacks.fgsm(model, x, y, config.adv_eps, clip=config.adv_clip)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if x_adv is not None:
        loss = config.adv_alpha * loss + (1 - config.adv_alpha) * F.cross_entropy(model(x_adv), y)
    if config.l1:
        loss = loss + config.l1 * first_layer(model).weight.abs().sum()
    return loss, logits


def _momentum(config, epoch):
    if config.momentum_final is None:
        return config.momentum
    progress = min(epoch / max(config.momentum_epochs, 1), 1.0)
    return config.momentum + progress * (config.momentum_final - config.momentum)


@torch.no_grad()
def _apply_max_norm(model, max_norm):
    for module in model.modules():
        if isinstance(module, nn.Linear):  # rows of W (out x in) are the units' incoming weights
            module.weight.copy_(torch.renorm(module.weight, 2, 0, max_norm))


def train(model, train_split, config, *, val_split=None, progress=True):
    """Train ``model`` in place on ``train_split`` (a :class:`quanos_lib.data.Split`).

    Returns the history: per epoch ``loss``, ``train_error`` (running over the epoch, clean inputs,
    in training mode),
    ``val_error`` (if a validation split is given), ``lr``, ``momentum``; and ``best_epoch``.
    """
    seed_everything(config.seed)
    dev = device()
    model.to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    shuffle = torch.Generator().manual_seed(config.seed)
    history = {"loss": [], "train_error": [], "val_error": [], "lr": [], "momentum": [], "best_epoch": None}
    best_error, best_state, since_best, step = float("inf"), None, 0, 0
    # `disable` is passed only to switch the bar off, so that TQDM_DISABLE=1 (set by the runner) still applies.
    bar = tqdm(range(config.epochs), desc="training", unit="epoch", leave=False,
               **({} if progress else {"disable": True}))
    for epoch in bar:
        model.train()
        momentum = _momentum(config, epoch)
        loss_sum, wrong, seen = 0.0, 0, 0
        for x, y in train_split.batches(config.batch_size, shuffle=True, generator=shuffle):
            x, y = x.to(dev), y.to(dev)
            lr = max(config.lr / config.lr_decay ** step, config.lr_min)
            for group in optimizer.param_groups:
                group["lr"], group["momentum"] = lr, momentum
            loss, logits = _objective(model, x, y, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if config.max_col_norm is not None:
                _apply_max_norm(model, config.max_col_norm)
            wrong += (logits.argmax(1) != y).sum().item()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            step += 1
        history["loss"].append(loss_sum / seen)
        history["train_error"].append(wrong / seen)
        history["lr"].append(lr)
        history["momentum"].append(momentum)
        if val_split is not None:
            val_error = evaluate(model, val_split.x, val_split.y)["error"]
            history["val_error"].append(val_error)
            if val_error < best_error:
                best_error, best_state, since_best = val_error, copy.deepcopy(model.state_dict()), 0
                history["best_epoch"] = epoch
            else:
                since_best += 1
            bar.set_postfix(val_error=f"{val_error:.4f}")
            if config.patience is not None and since_best >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def trained_model(name, build, dataset, config, *, val_split=None, progress=True):
    """``build()`` seeded with ``config.seed`` and trained on ``dataset.train``, or the cached copy.

    The cache key is the model's architecture, ``config`` and the exact training (and validation)
    tensors, so a model is reused only when it would be trained identically.
    Returns ``(model, history)``; ``history["seconds"]`` is the training time of the original run.
    """
    seed_everything(config.seed)
    key = {"name": name, "model": repr(build()), "config": config.asdict(),
           "train": dataset.train, "val": val_split}

    def build_seeded():
        seed_everything(config.seed)
        return build()

    def fit(model):
        start = time.perf_counter()
        history = train(model, dataset.train, config, val_split=val_split, progress=progress)
        history["seconds"] = time.perf_counter() - start
        return history

    model, history = checkpoints.load_or_train(name, key, build_seeded, fit)
    return model.to(device()).eval(), history


@torch.no_grad()
def predict_proba(model, x, batch_size=1000):
    """Softmax probabilities for every example of ``x`` (eval mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    try:
        return torch.cat([F.softmax(model(xb.to(dev)), dim=1).cpu() for xb in x.split(batch_size)])
    finally:
        model.train(was_training)


def summarize(probs, y):
    """Error rate and confidence from probabilities.

    Choice: *confidence* is the probability the model gives its predicted class. ``confidence`` is
    its mean over all examples, ``confidence_on_errors`` over the misclassified ones only (NaN if none).
    """
    confidence, predicted = probs.max(1)
    wrong = predicted != y
    return {"error": wrong.float().mean().item(),
            "confidence": confidence.mean().item(),
            "confidence_on_errors": confidence[wrong].mean().item() if wrong.any() else float("nan")}


def evaluate(model, x, y, batch_size=1000):
    """``summarize`` of the model's predictions on ``(x, y)``."""
    return summarize(predict_proba(model, x, batch_size), y)


def evaluate_fgsm(model, x, y, eps, **fgsm_kwargs):
    """Clean and FGSM metrics of a model in one dict: ``clean_error``, ``clean_confidence``,
    ``adv_error``, ``adv_confidence`` and ``adv_confidence_on_errors`` (see :func:`summarize`)."""
    clean = evaluate(model, x, y)
    adversarial = evaluate(model, attacks.adversarial_examples(model, x, y, eps, **fgsm_kwargs), y)
    return {"clean_error": clean["error"], "clean_confidence": clean["confidence"],
            "adv_error": adversarial["error"], "adv_confidence": adversarial["confidence"],
            "adv_confidence_on_errors": adversarial["confidence_on_errors"]}


def fgsm_curve(model, x, y, eps_values, **fgsm_kwargs):
    """Error and mean confidence under FGSM for each eps: ``{"eps": [...], "error": [...], "confidence": [...]}``."""
    curve = {"eps": list(eps_values), "error": [], "confidence": []}
    for eps in eps_values:
        summary = evaluate(model, attacks.adversarial_examples(model, x, y, eps, **fgsm_kwargs), y)
        curve["error"].append(summary["error"])
        curve["confidence"].append(summary["confidence"])
    return curve
