"""AutoAttack's attacks (Croce & Hein, 2020) from a maintained library, the Adversarial Robustness Toolbox (ART 1.20.1),
behind the same conventions as :mod:`quanos_lib.attacks`: images in [0, 1], the model in eval mode (restored after),
on its own device, the caller's tensors untouched, every perturbation within ``eps`` (L-infinity).

:func:`autoattack` cascades three of ART's attacks as AutoAttack's standard suite does: APGD with the cross-entropy
loss, APGD with the targeted DLR loss (APGD-T) at the ``targets`` most likely wrong classes, and the query-based Square
attack (no gradient: it sees through masked gradients); each attack sees only the images every earlier one failed on,
and an image counts as robust only if none fooled it. Why the cascade is ours and not ART's ``AutoAttack`` class: that
class runs every listed attack, Square included, targeted at every class once more, nine times the work of the
standard suite. FAB, the fourth attack of the standard suite, is not in ART: it is missing here.

The budgets are arguments: AutoAttack's own (100 APGD iterations, APGD-T at 9 targets, Square with 5,000 queries) is the
`full` profile's (``profiles.SCALES["full"]["vgg"]["strong"]``); a reduced one is recorded with the results it produced.
"""
import numpy as np
import torch

from . import models


@torch.no_grad()
def _logits(model, x, batch_size):
    return torch.cat([model(batch) for batch in x.split(batch_size)])


def _classifier(model, x):
    from art.estimators.classification import PyTorchClassifier
    outputs = _logits(model, x[:1], 1)
    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                             nb_classes=outputs.shape[1], clip_values=(0.0, 1.0),
                             device_type="gpu" if x.device.type == "cuda" else "cpu")


def autoattack(model, x, y, eps, *, apgd_iterations=100, targets=3, square_queries=1000, square_restarts=1,
               batch_size=250, seed=0):
    """Adversarial images for ``x`` (labels ``y``) by the cascade of the module doc at L-infinity radius ``eps``:
    APGD-CE, then APGD-T (DLR) toward each of the ``targets`` classes the model finds most likely after the true one,
    then Square with ``square_queries`` queries and ``square_restarts`` restarts. Returns images on the CPU: for each
    image the first one that fooled the model, else the last attempt. Deterministic for a ``seed`` (numpy's and
    torch's generators are seeded from it; ART draws from both)."""
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack

    device = models.device(model, default=x.device)
    x, y = x.detach().to(device).float(), y.to(device)
    if eps == 0:
        return x.cpu().clone()
    np.random.seed(seed)
    torch.manual_seed(seed)
    with models.eval_mode(model):  # ART differentiates the model itself: no no_grad around it
        classifier = _classifier(model, x)
        logits = _logits(model, x, batch_size)
        ranked = logits.scatter(1, y[:, None], float("-inf")).argsort(1, descending=True)  # wrong classes, likeliest first
        step = 2 * eps / 8  # ART's eps_step; APGD adapts its own step size from 2 * eps
        found = x.clone()
        robust = logits.argmax(1) == y

        def run(attack, labels):
            index = robust.nonzero().flatten()
            if not len(index):
                return
            attempt = attack.generate(x=x[index].cpu().numpy(), y=labels[index].cpu().numpy())
            attempt = torch.from_numpy(attempt).to(device)
            attempt = torch.minimum(torch.maximum(attempt, x[index] - eps), x[index] + eps).clamp(0, 1)  # ART's own
            fooled = _logits(model, attempt, batch_size).argmax(1) != y[index]
            found[index] = attempt  # the last attempt for the robust ones, the fooling one for the others
            robust[index[fooled]] = False

        common = {"estimator": classifier, "norm": np.inf, "eps": eps, "eps_step": step, "max_iter": apgd_iterations,
                  "nb_random_init": 1, "batch_size": batch_size, "verbose": False}
        run(AutoProjectedGradientDescent(**common, targeted=False, loss_type="cross_entropy"), y)
        targeted = AutoProjectedGradientDescent(**common, targeted=True, loss_type="difference_logits_ratio")
        for k in range(min(targets, logits.shape[1] - 1)):
            run(targeted, ranked[:, k])
        run(SquareAttack(estimator=classifier, norm=np.inf, eps=eps, max_iter=square_queries, p_init=0.8,
                         nb_restarts=square_restarts, batch_size=batch_size, verbose=False), y)
    return found.cpu()
