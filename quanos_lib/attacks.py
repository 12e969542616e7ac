"""Adversarial attacks, following the conventions of trusted attack libraries.

Inputs are images in [0, 1] (normalization lives inside the model). An attack puts the model in
eval mode and restores its mode afterwards, differentiates only with respect to the input (no
``.grad`` is left on parameters), never modifies the caller's tensors, and runs on the model's device.

Choice (the FGSM paper states none): adversarial images are clipped to the valid range [0, 1] by
default, so they remain images; ``clip=None`` gives the paper's unclipped ``x + eps * sign(grad)``.
"""
import torch

from . import models


def _device(model, x):
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else x.device


def fgsm(model, x, y, eps, *, targeted=False, clip=(0.0, 1.0), loss_fn=None):
    """Fast gradient sign method (Goodfellow et al., 2015): ``x + eps * sign(grad_x J(x, y))``.

    ``targeted=True`` treats ``y`` as the target classes and steps *down* the loss toward them.
    ``loss_fn(outputs, y)`` defaults to the model's own loss (:func:`quanos_lib.models.loss`:
    cross-entropy for softmax classifiers), summed so that tiny per-example gradients keep their sign. Returns a new tensor on the model's device; for ``eps == 0`` it equals ``x``.
    """
    device = _device(model, x)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    loss_fn = loss_fn or (lambda outputs, target: models.loss(model, outputs, target, reduction="sum"))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():  # also inside a caller's no_grad block
            x_in = x.clone().requires_grad_(True)
            loss = loss_fn(model(x_in), y.to(device))
            (grad,) = torch.autograd.grad(loss, x_in)  # only w.r.t. the input: parameters keep no .grad
    finally:
        model.train(was_training)
    step = eps * grad.sign()
    x_adv = x - step if targeted else x + step
    return x_adv.clamp_(*clip) if clip is not None else x_adv


def adversarial_examples(model, x, y, eps, *, attack=fgsm, batch_size=1000, **kwargs):
    """Run ``attack`` over a whole dataset in batches; returns the adversarial images on the CPU."""
    return torch.cat([attack(model, xb, yb, eps, **kwargs).cpu()
                      for xb, yb in zip(x.split(batch_size), y.split(batch_size))])


@torch.no_grad()
def outputs_along_fgsm_direction(model, x, y, eps_values):
    """The model's outputs (e.g. the softmax arguments) at ``x + eps * sign(grad_x J(x, y))`` for each
    eps, unclipped, for one example ``x`` (1 x C x H x W): a tensor of shape len(eps_values) x classes.
    The FGSM paper's Figure 4 plots these against eps to show how linear the model is along the direction.
    """
    direction = fgsm(model, x, y, 1.0, clip=None) - x.to(_device(model, x))
    was_training = model.training
    model.eval()
    try:
        steps = torch.as_tensor(eps_values, dtype=x.dtype, device=direction.device).view(-1, 1, 1, 1)
        return model(x.to(direction.device) + steps * direction).cpu()
    finally:
        model.train(was_training)


def linearity_r2(eps_values, outputs):
    """For each class, the R^2 of a straight-line fit of its output against eps: 1 means perfectly linear."""
    eps = torch.as_tensor(eps_values, dtype=torch.float64)
    outputs = torch.as_tensor(outputs, dtype=torch.float64)
    design = torch.stack([eps, torch.ones_like(eps)], dim=1)
    coefficients = torch.linalg.lstsq(design, outputs).solution
    residual = ((outputs - design @ coefficients) ** 2).sum(0)
    total = ((outputs - outputs.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return (1 - residual / total).tolist()


def targeted_success_rates(model, samples, classes, eps, **kwargs):
    """For each class c: the share of ``samples`` that one targeted FGSM step of size eps toward c
    (unclipped unless ``clip`` is given) makes the model classify as c."""
    kwargs.setdefault("clip", None)
    rates = []
    for c in range(classes):
        target = torch.full((len(samples),), c, dtype=torch.long)
        stepped = adversarial_examples(model, samples, target, eps, targeted=True, **kwargs)
        rates.append((_predicted_classes(model, stepped) == c).float().mean().item())
    return rates


@torch.no_grad()
def _predicted_classes(model, x, batch_size=1000):
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(b.to(_device(model, b))).argmax(1).cpu() for b in x.split(batch_size)])
    finally:
        model.train(was_training)
