"""Adversarial attacks, following the conventions of trusted attack libraries.

Inputs are images in [0, 1] (normalization lives inside the model). An attack puts the model in
eval mode and restores its mode afterwards, differentiates only with respect to the input (no
``.grad`` is left on parameters), never modifies the caller's tensors, and runs on the model's device.

:func:`fgsm` is the single step; :func:`pgd` its iterated, randomly started form (Madry et al., 2018),
the "stronger iterative attack" of QUANOS. Through a fake-quantized model both differentiate with the
straight-through estimator of :mod:`quanos_lib.quantization`.

Choice (the FGSM paper states none): adversarial images are clipped to the valid range [0, 1] by
default, so they remain images; ``clip=None`` gives the paper's unclipped ``x + eps * sign(grad)``.

This module only makes adversarial examples; what they do to a model is measured by
:mod:`quanos_lib.evaluation`.
"""
import contextlib

import torch

from . import models


def fgsm(model, x, y, eps, *, targeted=False, clip=(0.0, 1.0), loss_fn=None, eval_mode=True):
    """Fast gradient sign method (Goodfellow et al., 2015): ``x + eps * sign(grad_x J(x, y))``.

    ``targeted=True`` treats ``y`` as the target classes and steps *down* the loss toward them.
    ``loss_fn(outputs, y)`` defaults to the model's own loss (:func:`quanos_lib.models.loss`:
    cross-entropy for softmax classifiers), summed so that tiny per-example gradients keep their sign.
    ``eval_mode=False`` differentiates the model in the mode it is in (in training mode: with dropout, a fresh mask),
    for an adversarial training objective that takes the gradient of the dropout cost itself; never for scoring.
    Returns a new tensor on the model's device; for ``eps == 0`` it equals ``x``.
    """
    device = models.device(model, default=x.device)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    step = eps * _loss_gradient(model, x, y.to(device), loss_fn, eval_mode=eval_mode).sign()
    x_adv = x - step if targeted else x + step
    return x_adv.clamp_(*clip) if clip is not None else x_adv


def rfgsm(model, x, y, eps, *, alpha=None, seed=0, clip=(0.0, 1.0)):
    """R+FGSM (Tramèr et al., 2018): a random sign step of size ``alpha`` (default ``eps / 2``), then an FGSM step of
    ``eps - alpha`` from there, so the whole perturbation stays within ``eps``. It escapes the sharp curvature at the
    data point that single-step adversarial training leaves behind (a masked FGSM gradient there), so it tests whether
    such a model's FGSM robustness is real. The random signs come from a generator seeded with ``seed``. Written here
    (a few lines over :func:`fgsm`) with the same guarantees; the library that has it, torchattacks, cannot be a
    dependency of this environment."""
    alpha = eps / 2 if alpha is None else alpha
    device = models.device(model, default=x.device)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    start = random_sign(model, x, y, alpha, seed=seed, clip=clip)
    return fgsm(model, start, y, eps - alpha, clip=clip)


def _loss_gradient(model, x, y, loss_fn=None, *, with_outputs=False, eval_mode=True):
    """grad_x of the summed loss, in eval mode (or, with ``eval_mode=False``, in the model's own mode), with respect
    to the input only (parameters keep no .grad); with ``with_outputs``, also the model's (detached) outputs at ``x``."""
    loss_fn = loss_fn or (lambda outputs, target: models.loss(model, outputs, target, reduction="sum"))
    mode = models.eval_mode(model) if eval_mode else contextlib.nullcontext()
    with mode, torch.enable_grad():  # also inside a caller's no_grad block
        x_in = x.clone().requires_grad_(True)
        outputs = model(x_in)
        (grad,) = torch.autograd.grad(loss_fn(outputs, y), x_in)
    return (grad, outputs.detach()) if with_outputs else grad


def pgd(model, x, y, eps, *, steps=10, step_size=None, random_start=True, seed=0, clip=(0.0, 1.0), loss_fn=None,
        stop_when_fooled=False):
    """Projected gradient descent in the L-infinity ball of radius ``eps`` around ``x`` (Madry et al., 2018).

    Starts at ``x`` plus uniform noise in ``[-eps, eps]`` (``random_start``; drawn from a generator seeded
    with ``seed``, so a run is deterministic), then takes ``steps`` FGSM steps of ``step_size`` (default
    ``2.5 * eps / steps``, Madry's choice), each followed by the projection back onto the ball and onto
    ``clip``. With ``steps=1``, ``step_size=eps`` and no random start it is exactly :func:`fgsm`.
    Same guarantees as :func:`fgsm`: eval mode, no parameter gradients, the caller's tensors untouched,
    ``eps == 0`` returns ``x``.

    ``stop_when_fooled`` (for scoring, not for training): an image stays at the first iterate the model
    misclassifies (the random start included) and only the others step on, so accuracy on the result counts an
    image as robust only if *no* iterate fools it, as AutoAttack and RobustBench score. It is never higher than
    on the last iterate alone, and far cheaper where most images fall in a step or two. Untargeted only.
    """
    device = models.device(model, default=x.device)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    y = y.to(device)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    x_adv = x.clone()
    if random_start:
        generator = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same start on any device
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        x_adv = x_adv + (2 * noise.to(device) - 1) * eps
    active = torch.arange(len(x), device=device)  # the images still attacked (all, unless stop_when_fooled)
    for _ in range(steps):
        if clip is not None:
            x_adv = x_adv.clamp(*clip)
        if not stop_when_fooled:
            x_adv = x_adv + step_size * _loss_gradient(model, x_adv, y, loss_fn).sign()
            x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)  # back onto the eps-ball
            continue
        grad, outputs = _loss_gradient(model, x_adv[active], y[active], loss_fn, with_outputs=True)
        correct = models.probabilities(model, outputs).argmax(1) == y[active]
        active, grad = active[correct], grad[correct]  # a fooled image keeps the iterate that fooled it
        if not len(active):
            break
        moved = x_adv[active] + step_size * grad.sign()
        x_adv[active] = torch.minimum(torch.maximum(moved, x[active] - eps), x[active] + eps)
    return x_adv.clamp_(*clip) if clip is not None else x_adv


def margin_loss(outputs, y):
    """Carlini & Wagner's margin, summed over the batch: the largest wrong logit minus the true class's. Climbing it
    fools the model once it turns positive; unlike cross-entropy it does not flatten where the softmax saturates."""
    true = outputs.gather(1, y[:, None]).squeeze(1)
    wrong = outputs.scatter(1, y[:, None], float("-inf")).amax(1)
    return (wrong - true).sum()


def pgd_restarts(model, x, y, eps, *, steps=50, restarts=5, loss_fn=None, seed=0, clip=(0.0, 1.0), batch_size=1000):
    """PGD (:func:`pgd`, scored by its strongest iterate) from ``restarts`` random starts, each batch of each restart
    with a start of its own (seeded by ``seed``, the restart and the batch), an image counting as robust only if no
    restart fools it: the stronger PGD a robustness evaluation reports beside a single start (Carlini et al., 2019).
    ``loss_fn``: cross-entropy by default, or e.g. :func:`margin_loss`. Returns the images on the CPU: for each image
    the first iterate that fooled the model, else the last restart's last iterate."""
    device = models.device(model, default=x.device)
    found = x.detach().cpu().clone()
    if eps == 0:
        return found
    robust = torch.ones(len(x), dtype=torch.bool)
    for restart in range(restarts):
        for batch, index in enumerate(robust.nonzero().flatten().split(batch_size)):
            start = seed * 1_000_003 + restart * 10_007 + batch  # a start of its own per restart and batch
            attempt = pgd(model, x[index], y[index], eps, steps=steps, seed=start, clip=clip, loss_fn=loss_fn,
                          stop_when_fooled=True)
            with models.eval_mode(model), torch.no_grad():
                fooled = (models.probabilities(model, model(attempt)).argmax(1) != y[index].to(device)).cpu()
            found[index] = attempt.cpu()
            robust[index[fooled]] = False
        if not robust.any():
            break
    return found


def random_sign(model, x, y, eps, *, seed=0, clip=(0.0, 1.0)):
    """``x + eps * s`` with random signs ``s`` (a generator seeded with ``seed``, drawn on the CPU): noise of an
    attack's size in no chosen direction, the baseline an attack must beat. ``model`` and ``y`` are unused (the
    signature of the attacks here)."""
    generator = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same signs on any device
    signs = torch.randint(0, 2, x.shape, generator=generator).mul(2).sub(1)
    noisy = x.detach() + eps * signs.to(device=x.device, dtype=x.dtype)
    return noisy.clamp_(*clip) if clip is not None else noisy


def adversarial_examples(model, x, y, eps, *, attack=fgsm, batch_size=1000, **kwargs):
    """Run ``attack`` over a whole dataset in batches; returns the adversarial images on the CPU."""
    return torch.cat([attack(model, xb, yb, eps, **kwargs).cpu()
                      for xb, yb in zip(x.split(batch_size), y.split(batch_size))])
