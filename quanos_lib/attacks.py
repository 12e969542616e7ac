"""Adversarial attacks, following the conventions of trusted attack libraries.

Inputs are images in [0, 1] (normalization lives inside the model). An attack puts the model in
eval mode and restores its mode afterwards, differentiates only with respect to the input (no
``.grad`` is left on parameters), never modifies the caller's tensors, and runs on the model's device.

:func:`fgsm` is the single step; :func:`pgd` its iterated, randomly started form (Madry et al., 2018),
the "stronger iterative attack" of QUANOS. Through a fake-quantized model both differentiate with the
straight-through estimator of :mod:`quanos_lib.quantization`.

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
    cross-entropy for softmax classifiers), summed so that tiny per-example gradients keep their sign.
    Returns a new tensor on the model's device; for ``eps == 0`` it equals ``x``.
    """
    device = _device(model, x)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    step = eps * _loss_gradient(model, x, y.to(device), loss_fn).sign()
    x_adv = x - step if targeted else x + step
    return x_adv.clamp_(*clip) if clip is not None else x_adv


def _loss_gradient(model, x, y, loss_fn=None):
    """grad_x of the summed loss, in eval mode, with respect to the input only (parameters keep no .grad)."""
    loss_fn = loss_fn or (lambda outputs, target: models.loss(model, outputs, target, reduction="sum"))
    with models.eval_mode(model), torch.enable_grad():  # also inside a caller's no_grad block
        x_in = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x_in), y), x_in)
    return grad


def pgd(model, x, y, eps, *, steps=10, step_size=None, random_start=True, seed=0, clip=(0.0, 1.0), loss_fn=None):
    """Projected gradient descent in the L-infinity ball of radius ``eps`` around ``x`` (Madry et al., 2018).

    Starts at ``x`` plus uniform noise in ``[-eps, eps]`` (``random_start``; drawn from a generator seeded
    with ``seed``, so a run is deterministic), then takes ``steps`` FGSM steps of ``step_size`` (default
    ``2.5 * eps / steps``, Madry's choice), each followed by the projection back onto the ball and onto
    ``clip``. With ``steps=1``, ``step_size=eps`` and no random start it is exactly :func:`fgsm`.
    Same guarantees as :func:`fgsm`: eval mode, no parameter gradients, the caller's tensors untouched,
    ``eps == 0`` returns ``x``.
    """
    device = _device(model, x)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    y = y.to(device)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
        x_adv = x_adv + (2 * noise.to(device) - 1) * eps
    for _ in range(steps):
        if clip is not None:
            x_adv = x_adv.clamp(*clip)
        x_adv = x_adv + step_size * _loss_gradient(model, x_adv, y, loss_fn).sign()
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)  # back onto the eps-ball
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
    with models.eval_mode(model):
        steps = torch.as_tensor(eps_values, dtype=x.dtype, device=direction.device).view(-1, 1, 1, 1)
        return model(x.to(direction.device) + steps * direction).cpu()


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
    with models.eval_mode(model):
        return torch.cat([model(b.to(_device(model, b))).argmax(1).cpu() for b in x.split(batch_size)])


# The checks of gradient_masking_checks that a model must pass; "fgsm_monotone_in_eps" is for information.
MASKING_CHECKS = ("iterative_at_least_as_strong", "white_box_at_least_as_strong_as_transfer", "pgd_monotone_in_eps",
                  "reaches_chance")


def gradient_masking_checks(fgsm_curve, pgd_curve, transfer_accuracy, chance, *, tolerance=0.01):
    """The standard sanity checks for an apparent robustness that may only be masked gradients
    (Athalye, Carlini & Wagner, 2018; Carlini et al., "On evaluating adversarial robustness", 2019).

    ``fgsm_curve`` / ``pgd_curve``: ``{eps: white-box accuracy}`` over the same eps values (0 included if
    wanted); ``transfer_accuracy``: ``{eps: accuracy}`` under black-box examples from a substitute at
    some of those eps; ``chance``: 1 / classes. A check passes within ``tolerance`` (sampling noise):

    - ``iterative_at_least_as_strong``: PGD accuracy <= FGSM accuracy at every eps;
    - ``white_box_at_least_as_strong_as_transfer``: PGD accuracy <= transfer accuracy where both exist;
    - ``pgd_monotone_in_eps``: PGD accuracy never rises as eps grows. Only the iterative attack is held to
      it: one large FGSM step overshoots (the loss along a fixed sign direction is not monotone far from
      x), so FGSM accuracy often rises again at large eps on any model; ``fgsm_monotone_in_eps`` reports
      it, for information, and is not a masking symptom by itself;
    - ``reaches_chance``: PGD accuracy at the largest eps is at most chance.
    """
    eps = sorted(pgd_curve)
    rises = lambda curve: any(curve[b] > curve[a] + tolerance for a, b in zip(eps, eps[1:]))  # noqa: E731
    return {
        "iterative_at_least_as_strong": all(pgd_curve[e] <= fgsm_curve[e] + tolerance for e in eps),
        "white_box_at_least_as_strong_as_transfer": all(pgd_curve[e] <= acc + tolerance
                                                        for e, acc in transfer_accuracy.items()),
        "pgd_monotone_in_eps": not rises(pgd_curve),
        "reaches_chance": pgd_curve[eps[-1]] <= chance + tolerance,
        "fgsm_monotone_in_eps": not rises(fgsm_curve),
    }
