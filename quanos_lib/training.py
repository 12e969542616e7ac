"""One training loop for every model of the companion, plus evaluation and seeding.

:func:`train` is SGD with momentum over in-memory tensors, with

- schedules (pylearn2's): learning rate ``max(lr / lr_decay**t, lr_min)`` at step t, or a linear decay
  to ``lr * lr_linear_final`` by epoch ``lr_linear_epochs``; momentum rising linearly from ``momentum``
  to ``momentum_final`` by epoch ``momentum_epochs``; a module with an ``lr_scale`` attribute learns at
  that multiple of the rate (the conv layers of the conv maxout network);
- the FGSM paper's adversarial objective ``alpha * J(x, y) + (1 - alpha) * J(x_fgsm, y)`` with
  ``x_fgsm`` recomputed from the current model at every mini-batch and treated as a constant
  (no gradient through the sign); choice: it is computed with the model in eval mode (no dropout).
  ``adv_kind="sign_noise"`` / ``"uniform_noise"`` replace ``x_fgsm`` by ``x`` plus random ``+-eps``
  sign noise / ``U(-eps, eps)`` noise (F12), keeping the clean term (the same alpha);
- an optional L1 penalty ``l1 * ||W||_1`` on the first layer's weight (the paper's "L1 weight decay");
- an optional max-norm constraint on each unit's (or filter's) incoming weights, applied after every
  step; a module with a ``max_norm`` attribute uses its own limit;
- optional data augmentation on tensors: random crops after zero padding, and horizontal flips;
- early stopping on a validation split (best epoch kept; optionally on its FGSM error, as for F8),
  then optionally continued training on train + validation (the maxout paper's protocol);
- a seed that fixes everything.

:func:`trained_model` wraps it with :mod:`quanos_lib.checkpoints`, so a model is trained once per
configuration and reused by every notebook that asks for the same one.
"""
import copy
import dataclasses
import os
import random
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import attacks, checkpoints, data, models


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
    lr_linear_final: float = None    # else: lr falls linearly to lr * lr_linear_final ...
    lr_linear_epochs: int = 1        # ... by this epoch
    momentum: float = 0.0
    momentum_final: float = None     # None: constant momentum
    momentum_epochs: int = 1         # momentum reaches momentum_final at this epoch
    adv_alpha: float = None          # None: clean training; else alpha*J(x) + (1-alpha)*J(x_perturbed)
    adv_eps: float = 0.25
    adv_clip: tuple = (0.0, 1.0)     # None: the paper's unclipped perturbation
    adv_kind: str = "fgsm"           # "fgsm", or random "sign_noise" / "uniform_noise" of size eps
    l1: float = 0.0                  # L1 penalty on the first layer's weight
    max_col_norm: float = None       # max L2 norm of each unit's incoming weights
    augment_padding: int = 0         # random crops of the zero-padded image (0: none)
    augment_flip: bool = False       # random horizontal flips
    weight_decay: float = 0.0        # L2 weight decay (SGD's own)
    snapshot_epochs: tuple = ()      # keep the weights after these epochs in history["snapshots"]
    patience: int = None             # early stopping: epochs without validation improvement
    val_adv_eps: float = None        # early-stop on the validation set's FGSM error at this eps instead
    continue_epochs: int = 0         # then continue on train + validation for at most this many epochs
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
    if config.adv_kind == "fgsm":
        return attacks.fgsm(model, x, y, config.adv_eps, clip=config.adv_clip)  # detached: a constant
    if config.adv_kind == "sign_noise":
        noise = config.adv_eps * torch.randint(0, 2, x.shape, device=x.device).mul(2).sub(1).to(x.dtype)
    elif config.adv_kind == "uniform_noise":
        noise = torch.empty_like(x).uniform_(-config.adv_eps, config.adv_eps)
    else:
        raise ValueError(f"unknown adv_kind {config.adv_kind!r}")
    x_noisy = x + noise
    return x_noisy.clamp(*config.adv_clip) if config.adv_clip is not None else x_noisy


def _objective(model, x, y, config):
    """The training loss of one mini-batch, and the clean outputs (for the running training error)."""
    x_perturbed = perturb(model, x, y, config) if config.adv_alpha is not None else None
    outputs = model(x)
    loss = models.loss(model, outputs, y)
    if x_perturbed is not None:
        loss = config.adv_alpha * loss + (1 - config.adv_alpha) * models.loss(model, model(x_perturbed), y)
    if config.l1:
        loss = loss + config.l1 * first_layer(model).weight.abs().sum()
    return loss, outputs


def _validate(model, split, config):
    """Validation error (on FGSM examples if ``val_adv_eps``) and the objective on the split, in eval mode."""
    model.eval()
    x = split.x if config.val_adv_eps is None else attacks.adversarial_examples(model, split.x, split.y,
                                                                                config.val_adv_eps)
    error = evaluate(model, x, split.y)["error"]
    dev = next(model.parameters()).device
    with torch.no_grad():  # FGSM inside the objective still takes its gradient
        total = sum(_objective(model, xb.to(dev), yb.to(dev), config)[0].item() * len(yb)
                    for xb, yb in split.batches(1000))
    return error, total / len(split)


def _momentum(config, epoch):
    if config.momentum_final is None:
        return config.momentum
    progress = min(epoch / max(config.momentum_epochs, 1), 1.0)
    return config.momentum + progress * (config.momentum_final - config.momentum)


def _learning_rate(config, step, epoch):
    if config.lr_linear_final is not None:
        progress = min(epoch / max(config.lr_linear_epochs, 1), 1.0)
        return config.lr * (1 - progress * (1 - config.lr_linear_final))
    return max(config.lr / config.lr_decay ** step, config.lr_min)


def _param_groups(model):
    """One optimizer group per learning-rate multiple (``lr_scale`` on a module; 1 by default)."""
    groups = {}
    for module in model.modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if params:
            groups.setdefault(getattr(module, "lr_scale", 1.0), []).extend(params)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


@torch.no_grad()
def _apply_max_norm(model, max_norm):
    for module in model.modules():
        limit = getattr(module, "max_norm", max_norm)
        if limit is not None and isinstance(module, (nn.Linear, nn.Conv2d)):
            # dim 0 of W indexes the units (rows of a linear map) or filters (out x in x kh x kw)
            module.weight.copy_(torch.renorm(module.weight, 2, 0, limit))


def train(model, train_split, config, *, val_split=None, stop_loss=None, epochs=None, progress=True):
    """Train ``model`` in place on ``train_split`` (a :class:`quanos_lib.data.Split`).

    With ``val_split``, the epoch with the lowest validation error is kept (early stopping after
    ``config.patience`` epochs without improvement). ``stop_loss`` ends training once the epoch's
    training loss falls to it; ``epochs`` overrides ``config.epochs``.
    Returns the history: per epoch ``loss``, ``train_error`` (running over the epoch, clean inputs,
    in training mode), ``val_error`` and ``val_loss`` (with a validation split), ``lr``, ``momentum``;
    ``best_epoch`` / ``best_val_loss``; and ``snapshots``: ``{epoch: state dict}`` for ``config.snapshot_epochs``.
    """
    seed_everything(config.seed)
    dev = device()
    model.to(dev)
    optimizer = torch.optim.SGD(_param_groups(model), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    shuffle = torch.Generator().manual_seed(config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1)
    history = {"loss": [], "train_error": [], "val_error": [], "val_loss": [], "lr": [], "momentum": [],
               "best_epoch": None, "best_val_loss": None, "snapshots": {}}
    best_error, best_state, since_best, step = float("inf"), None, 0, 0
    # tqdm's notebook bar overrides $TQDM_DISABLE (set by the runner: a widget saved in a notebook shows as
    # a stuck "0%" line), so it is honoured here.
    quiet = not progress or os.environ.get("TQDM_DISABLE", "") not in ("", "0", "false", "False")
    bar = tqdm(range(config.epochs if epochs is None else epochs), desc="training", unit="epoch", leave=False,
               disable=quiet)
    for epoch in bar:
        model.train()
        momentum = _momentum(config, epoch)
        loss_sum, wrong, seen = 0.0, 0, 0
        for x, y in train_split.batches(config.batch_size, shuffle=True, generator=shuffle):
            if config.augment_padding or config.augment_flip:
                x = data.random_crop_flip(x, config.augment_padding, config.augment_flip, augment)
            x, y = x.to(dev), y.to(dev)
            lr = _learning_rate(config, step, epoch)
            for group in optimizer.param_groups:
                group["lr"], group["momentum"] = lr * group["lr_scale"], momentum
            loss, outputs = _objective(model, x, y, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            _apply_max_norm(model, config.max_col_norm)
            wrong += (outputs.argmax(1) != y).sum().item()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            step += 1
        history["loss"].append(loss_sum / seen)
        history["train_error"].append(wrong / seen)
        history["lr"].append(lr)
        history["momentum"].append(momentum)
        if epoch + 1 in config.snapshot_epochs:
            history["snapshots"][str(epoch + 1)] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if val_split is not None:
            val_error, val_loss = _validate(model, val_split, config)
            history["val_error"].append(val_error)
            history["val_loss"].append(val_loss)
            if val_error < best_error:
                best_error, best_state, since_best = val_error, copy.deepcopy(model.state_dict()), 0
                history["best_epoch"], history["best_val_loss"] = epoch, val_loss
            else:
                since_best += 1
            bar.set_postfix(val_error=f"{val_error:.4f}")
            if config.patience is not None and since_best >= config.patience:
                break
        if stop_loss is not None and history["loss"][-1] <= stop_loss:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def trained_model(name, build, train_split, config, *, val_split=None, start=None, progress=True):
    """``build()`` seeded with ``config.seed`` and trained on ``train_split``, or the cached copy.

    With ``val_split``: early stopping on it, then, if ``config.continue_epochs``, training goes on over
    ``train_split`` + ``val_split`` until the training loss falls to the best validation loss (or the
    epochs run out): the maxout paper's protocol. Its history is ``history["continued"]``.
    The cache key is the model's architecture, ``config`` and the exact training (and validation)
    tensors, so a model is reused only when it would be trained identically.
    ``start``: the state dict ``build()`` loads when it continues from trained weights (fine-tuning);
    it joins the key, so new starting weights mean a new model.
    Returns ``(model, history)``; ``history["seconds"]`` is the training time of the original run.
    """
    seed_everything(config.seed)
    untrained = build()
    key = {"name": name, "model": repr(untrained), "config": config.changes(),
           "shapes": {k: list(v.shape) for k, v in untrained.state_dict().items()},
           "train": train_split, "val": val_split}
    if start is not None:  # only then: every checkpoint trained from scratch keeps its key
        key["start"] = start

    def build_seeded():
        seed_everything(config.seed)
        return build()

    def fit(model):
        start = time.perf_counter()
        history = train(model, train_split, config, val_split=val_split, progress=progress)
        if val_split is not None and config.continue_epochs:
            everything = data.Split(torch.cat([train_split.x, val_split.x]), torch.cat([train_split.y, val_split.y]))
            history["continued"] = train(model, everything, config, stop_loss=history["best_val_loss"],
                                         epochs=config.continue_epochs, progress=progress)
        history["seconds"] = time.perf_counter() - start
        return history

    model, history = checkpoints.load_or_train(name, key, build_seeded, fit)
    return model.to(device()).eval(), history


@torch.no_grad()
def predict_proba(model, x, batch_size=1000):
    """Class probabilities for every example of ``x`` (softmax, or a model's independent class scores;
    eval mode; the model's mode is restored)."""
    dev = next(model.parameters()).device
    with models.eval_mode(model):
        return torch.cat([models.probabilities(model, model(xb.to(dev))).cpu() for xb in x.split(batch_size)])


def accuracy(model, x, y):
    """The share of ``(x, y)`` the model classifies correctly (eval mode)."""
    return 1 - evaluate(model, x, y)["error"]


def robustness(model, x, y, attacks_to_run, *, transfer=None):
    """Clean accuracy and accuracy under each white-box attack, as one row ``{column: accuracy}``.

    ``attacks_to_run``: ``{column: (attack, eps, kwargs)}``, each run on ``model`` itself (white-box);
    ``transfer``: ``{column: adversarial images}`` made elsewhere (black-box), evaluated as they are.
    """
    row = {"clean": accuracy(model, x, y)}
    for column, (attack, eps, kwargs) in attacks_to_run.items():
        row[column] = accuracy(model, attacks.adversarial_examples(model, x, y, eps, attack=attack, **kwargs), y)
    for column, x_adv in (transfer or {}).items():
        row[column] = accuracy(model, x_adv, y)
    return row


def accuracy_curve(model, x, y, attack, eps_values, **kwargs):
    """``{eps: accuracy}`` of ``model`` under its own (white-box) ``attack`` at each eps."""
    return {eps: accuracy(model, attacks.adversarial_examples(model, x, y, eps, attack=attack, **kwargs), y)
            for eps in eps_values}


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


def rubbish_report(model, samples):
    """Rubbish examples (F17, F18): the share of inputs given some class with probability above 0.5
    (``error``), and the mean top probability over those (``confidence``; NaN if there are none)."""
    top = predict_proba(model, samples).max(1).values
    fooled = top > 0.5
    return {"error": fooled.float().mean().item(),
            "confidence": top[fooled].mean().item() if fooled.any() else float("nan")}


def agreement_on_errors(source_predictions, y, other_predictions):
    """Cross-model agreement (F14) on the examples the source model gets wrong: for each other model,
    the share it also gets wrong (``<name>_misclassified``) and the share where it picks the source
    model's wrong class (``<name>_same_class``)."""
    wrong = source_predictions != y
    report = {}
    for name, predictions in other_predictions.items():
        report[f"{name}_misclassified"] = (predictions[wrong] != y[wrong]).float().mean().item()
        report[f"{name}_same_class"] = (predictions[wrong] == source_predictions[wrong]).float().mean().item()
    return report


def weight_concentration(weights, top=0.1):
    """How localized filters are: per row of ``weights``, the share of its absolute weight mass held by
    its ``top`` fraction of largest entries, averaged over rows (1 = all mass on a few pixels)."""
    magnitude = weights.abs()
    k = max(1, int(top * magnitude.shape[1]))
    return (magnitude.topk(k, dim=1).values.sum(1) / magnitude.sum(1).clamp_min(1e-12)).mean().item()


def rubbish_classes(model, samples, classes):
    """Which classes the rubbish examples counted as errors (some class above 0.5) land in: shares summing to 1."""
    probs = predict_proba(model, samples)
    fooled = probs.max(1).values > 0.5
    counts = probs.argmax(1)[fooled].bincount(minlength=classes).float()
    return (counts / counts.sum().clamp_min(1)).tolist()
