"""The training loop as it was before it was made sync-free (issue 24), frozen: tests/test_training.py checks that
today's loop gives bitwise the same weights and history on the CPU. Only the loop is frozen; the objective, the
schedules and the optimizer groups are the library's own."""
import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from quanos_lib import attacks, evaluation, models, training
from quanos_lib.progress import disabled as progress_disabled
from quanos_lib import data  # noqa: F401


def _validate(model, split, config):
    """Validation error (on FGSM or PGD examples if ``val_adv_eps``) and the objective on the split, in eval mode."""
    if config.val_adv_kind not in ("fgsm", "pgd"):
        raise ValueError(f"unknown val_adv_kind {config.val_adv_kind!r}: 'fgsm' or 'pgd'")
    attack = ({"attack": attacks.pgd, "steps": config.adv_steps, "seed": config.seed, "stop_when_fooled": True}
              if config.val_adv_kind == "pgd" else {})
    with models.eval_mode(model):
        measured = (split if config.val_adv_eps is None else
                    evaluation.attacked(model, split, config.val_adv_eps, clip=config.adv_clip, **attack))
        error = evaluation.evaluate(model, measured)["error"]
        return error, _mean_objective(model, split, config)



def _mean_objective(model, split, config):
    """The training objective's mean over ``split``, no step taken, in the mode the model is in."""
    dev = models.device(model)
    with torch.no_grad():  # FGSM inside the objective still takes its gradient
        return sum(training._objective(model, xb.to(dev), yb.to(dev), config)[0].item() * len(yb)
                   for xb, yb in split.batches(1000)) / len(split)



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



@torch.no_grad()
def _apply_max_norm(model, max_norm):
    for module in model.modules():
        limit = getattr(module, "max_norm", max_norm)
        if limit is not None and isinstance(module, (nn.Linear, nn.Conv2d)):
            # dim 0 of W indexes the units (rows of a linear map) or filters (out x in x kh x kw)
            module.weight.copy_(torch.renorm(module.weight, 2, 0, limit))



def train(model, train_split, config, *, val_split=None, match=None, epochs=None, progress=True):
    """The loop of quanos_lib.training.train before issue 24 (two host reads per step)."""
    training.seed_everything(config.seed)
    dev = training.default_device()
    model.to(dev)
    optimizer = torch.optim.SGD(training._param_groups(model), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    shuffle = torch.Generator().manual_seed(config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1)
    history = {"loss": [], "train_error": [], "val_error": [], "val_loss": [], "lr": [], "momentum": [],
               "best_epoch": None, "best_step": None, "best_val_loss": None, "snapshots": {},
               "threads": torch.get_num_threads()}
    if match is not None:
        history["match_objective"] = []
    best_error, best_state, since_best, step = float("inf"), None, 0, 0
    quiet = not progress or progress_disabled()
    bar = tqdm(range(config.epochs if epochs is None else epochs), desc="training", unit="epoch", leave=False,
               disable=quiet)
    for epoch in bar:
        model.train()
        epoch_momentum = training.momentum(config, epoch)
        loss_sum, wrong, seen = 0.0, 0, 0
        for x, y in train_split.batches(config.batch_size, shuffle=True, generator=shuffle):
            if config.augment_padding or config.augment_flip:
                x = data.random_crop_flip(x, config.augment_padding, config.augment_flip, augment)
            x, y = x.to(dev), y.to(dev)
            lr = training.learning_rate(config, step, epoch)
            for group in optimizer.param_groups:
                group["lr"], group["momentum"] = lr * group["lr_scale"], epoch_momentum
            loss, outputs = training._objective(model, x, y, config)
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
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


