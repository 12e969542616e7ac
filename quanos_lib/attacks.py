"""Adversarial attacks, following the conventions of trusted attack libraries.

Inputs are images in [0, 1] (normalization lives inside the model). An attack puts the model in
eval mode and restores its mode afterwards, differentiates only with respect to the input (no
``.grad`` is left on parameters), never modifies the caller's tensors, and runs on the model's device.

Choice (the FGSM paper states none): adversarial images are clipped to the valid range [0, 1] by
default, so they remain images; ``clip=None`` gives the paper's unclipped ``x + eps * sign(grad)``.
"""
import torch
import torch.nn.functional as F


def _device(model, x):
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else x.device


def fgsm(model, x, y, eps, *, targeted=False, clip=(0.0, 1.0), loss_fn=None):
    """Fast gradient sign method (Goodfellow et al., 2015): ``x + eps * sign(grad_x J(x, y))``.

    ``targeted=True`` treats ``y`` as the target classes and steps *down* the loss toward them.
    ``loss_fn(logits, y)`` defaults to cross-entropy (summed, so tiny per-example gradients keep
    their sign). Returns a new tensor on the model's device; for ``eps == 0`` it equals ``x``.
    """
    device = _device(model, x)
    x = x.detach().to(device)
    if eps == 0:
        return x.clone()
    loss_fn = loss_fn or (lambda logits, target: F.cross_entropy(logits, target, reduction="sum"))
    was_training = model.training
    model.eval()
    try:
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
