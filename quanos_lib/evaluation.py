"""Every measurement of a trained model: accuracy and confidence, under attack or not, and the papers' other probes.

A dataset is a :class:`quanos_lib.data.Split` (images ``x`` in [0, 1], labels ``y``). Models are evaluated in eval
mode, on their own device, in batches, and come back in the mode they were in. Adversarial examples come from
:mod:`quanos_lib.attacks`; this module only measures what they do.

Choices, made once for the companion:

- *error* is the share of examples whose predicted class (the most probable one) is not the label;
- *confidence* is the probability the model gives its predicted class: ``confidence`` is its mean over all
  examples, ``confidence_on_errors`` its mean over the misclassified ones only (NaN if there are none);
- a *rubbish example* (F17, F18) counts as an error when some class gets a probability above 0.5.
"""
import itertools

import pandas as pd
import torch

from . import attacks, data, models
from .profiles import eps_text

RUBBISH_THRESHOLD = 0.5


@torch.no_grad()
def predict_proba(model, x, batch_size=1000):
    """Class probabilities for every example of ``x`` (softmax, or a model's independent class scores; uint8
    images are read as k/255)."""
    dev = models.device(model)
    with models.eval_mode(model):
        return torch.cat([models.probabilities(model, model(data.to_float(xb).to(dev))).cpu()
                          for xb in x.split(batch_size)])


def predict(model, x, batch_size=1000):
    """The predicted class of every example of ``x``: its most probable class (the one :func:`summarize` uses)."""
    return predict_proba(model, x, batch_size).argmax(1)


def summarize(probs, y):
    """``error``, ``confidence`` and ``confidence_on_errors`` from probabilities (see the module's choices)."""
    confidence, predicted = probs.max(1)
    wrong = predicted != y
    return {"error": wrong.float().mean().item(),
            "confidence": confidence.mean().item(),
            "confidence_on_errors": confidence[wrong].mean().item() if wrong.any() else float("nan")}


def evaluate(model, split, batch_size=1000):
    """:func:`summarize` of the model's predictions on ``split``."""
    return summarize(predict_proba(model, split.x, batch_size), split.y)


def accuracy(model, split):
    """The share of ``split`` the model classifies correctly."""
    return 1 - evaluate(model, split)["error"]


def correct(model, split):
    """Per example of ``split``, whether the model classifies it correctly (a bool tensor, on the CPU): what an
    accuracy is the mean of, kept for intervals over the examples (:func:`quanos_lib.results.bootstrap`)."""
    return predict(model, split.float().x) == split.y.cpu()


def attacked(model, split, eps, *, labels=None, **attack_kwargs):
    """``split`` with its images replaced by adversarial ones made on ``model`` (FGSM unless ``attack=...``), still
    scored against its true labels. ``labels``: what the attack climbs the loss of, the true labels by default, or
    ``"predicted"``, the model's own predictions on the clean images (no label leaking: Kurakin et al., 2017, found
    that a network adversarially trained on true-label FGSM can resist it better than the predicted-label one)."""
    split = split.float()
    target = predict(model, split.x) if labels == "predicted" else split.y
    return data.Split(attacks.adversarial_examples(model, split.x, target, eps, **attack_kwargs), split.y)


def fgsm_report(model, split, eps, **fgsm_kwargs):
    """Clean and FGSM metrics in one dict: ``clean_error``, ``clean_confidence``, ``adv_error``,
    ``adv_confidence`` and ``adv_confidence_on_errors``."""
    clean = evaluate(model, split)
    adversarial = evaluate(model, attacked(model, split, eps, **fgsm_kwargs))
    return {"clean_error": clean["error"], "clean_confidence": clean["confidence"],
            "adv_error": adversarial["error"], "adv_confidence": adversarial["confidence"],
            "adv_confidence_on_errors": adversarial["confidence_on_errors"]}


def sign_noise_error(model, split, eps, *, seed=0, clip=(0.0, 1.0)):
    """The error of ``model`` on ``split`` with random ``+-eps`` signs added (:func:`quanos_lib.attacks.random_sign`,
    drawn once for the whole split, so no two batches share a pattern): what an attack of that size must beat."""
    split = split.float()
    return evaluate(model, data.Split(attacks.random_sign(model, split.x, split.y, eps, seed=seed, clip=clip),
                                      split.y))["error"]


def fgsm_table(models_by_label, split, eps, *, train=None, **fgsm_kwargs):
    """:func:`fgsm_report` of each model, one row per model (a DataFrame); with ``train``, a ``train_error``
    column first (the error on the training split, in eval mode)."""
    rows = {label: {**({"train_error": evaluate(model, train)["error"]} if train is not None else {}),
                    **fgsm_report(model, split, eps, **fgsm_kwargs)}
            for label, model in models_by_label.items()}
    return pd.DataFrame(rows).T


def fgsm_tables_by_seed(models_by_seed, split, eps, **fgsm_kwargs):
    """:func:`fgsm_table` of each seed's ``{label: model}`` (``{seed: {label: model}}``), one row per seed and model
    (a DataFrame indexed by ``(seed, label)``): ``table["clean_error"].unstack()`` is then seeds x labels."""
    return pd.concat({seed: fgsm_table(models, split, eps, **fgsm_kwargs) for seed, models in models_by_seed.items()},
                     names=["seed", "model"])


def adversarial_error(model, split, eps, **attack_kwargs):
    """The error of ``model`` on its own (white-box) adversarial examples: FGSM unless ``attack=...``; ``labels``,
    ``clip`` and the attack's own arguments as for :func:`attacked`."""
    return evaluate(model, attacked(model, split, eps, **attack_kwargs))["error"]


def fgsm_curve(model, split, eps_values, **fgsm_kwargs):
    """Error and mean confidence under FGSM at each eps: ``{"eps": [...], "error": [...], "confidence": [...]}``."""
    curve = {"eps": list(eps_values), "error": [], "confidence": []}
    for eps in eps_values:
        summary = evaluate(model, attacked(model, split, eps, **fgsm_kwargs))
        curve["error"].append(summary["error"])
        curve["confidence"].append(summary["confidence"])
    return curve


def accuracy_curve(model, split, attack, eps_values, *, per_example=False, **attack_kwargs):
    """``{eps: accuracy}`` of ``model`` under its own (white-box) ``attack`` at each eps; with ``per_example``,
    ``{eps: correct}`` (:func:`correct`) instead."""
    measure = correct if per_example else accuracy
    return {eps: measure(model, attacked(model, split, eps, attack=attack, **attack_kwargs)) for eps in eps_values}


def robustness_area(curve, max_eps):
    """The area under an accuracy-vs-eps curve (``{eps: accuracy}``, from :func:`accuracy_curve`) over
    ``[0, max_eps]``, divided by ``max_eps``: the mean accuracy over that range of eps (trapezoid rule), one
    number that rewards robustness at every eps rather than at one point where every model may be at the
    floor. The curve must include 0 and ``max_eps``."""
    points = sorted((eps, value) for eps, value in curve.items() if eps <= max_eps + 1e-12)
    if not points or points[0][0] != 0 or abs(points[-1][0] - max_eps) > 1e-12:
        raise ValueError(f"the curve must include eps 0 and {max_eps}, it has {sorted(curve)}")
    eps, values = (torch.tensor(column, dtype=torch.float64, device="cpu") for column in zip(*points))  # host numbers
    return float(torch.trapezoid(values, eps) / max_eps)


def transfer_error(source, target, split, eps, *, clip_transferred=False, **attack_kwargs):
    """The error of ``target`` on the adversarial examples made on ``source`` (a black-box, transferred attack);
    ``clip_transferred``: clipped to [0, 1] on the way (an unclipped attack's examples then become images)."""
    examples = attacked(source, split, eps, **attack_kwargs)
    if clip_transferred:
        examples = data.Split(examples.x.clamp(0, 1), examples.y)
    return evaluate(target, examples)["error"]


def validation_error_at_caps(history, caps=None):
    """What the epoch cap costs: ``{cap: validation error}``, the error early stopping would have kept had the
    early-stopped phase been capped at ``cap`` epochs (default: 1/8, 1/4, 1/2 and all of the configured cap).
    A cap past the epochs that ran (training stopped earlier by patience) gives the best error found."""
    errors = history["val_error"]
    cap = history["config"]["epochs"]
    caps = caps or sorted({max(1, cap // d) for d in (8, 4, 2, 1)})
    return {c: min(errors[:c]) for c in caps}


def attack_label(attack, eps, steps=None):
    """A column name such as ``FGSM 8/255`` or ``PGD-10 2/255``."""
    return f"{attack}{f'-{steps}' if steps else ''} {eps_text(eps)}"


def attack_suite(eps_values, *, pgd_steps, seed=0, **attack_kwargs):
    """White-box FGSM and PGD (``pgd_steps`` steps, random start seeded with ``seed``) at each eps, for
    :func:`robustness_table`: ``{label: (attack, eps, kwargs)}``; ``attack_kwargs`` (e.g. ``clip``) go to both."""
    suite = {attack_label("FGSM", eps): (attacks.fgsm, eps, attack_kwargs) for eps in eps_values}
    suite.update({attack_label("PGD", eps, pgd_steps): (attacks.pgd, eps, {"steps": pgd_steps, "seed": seed, **attack_kwargs})
                  for eps in eps_values})
    return suite


def transfer_examples(substitute, split, suite):
    """Black-box examples: each attack of ``suite`` (see :func:`attack_suite`) run on ``substitute``, for
    :func:`robustness_table`'s ``transfer``: ``{"transfer <label>": adversarial images}``."""
    return {f"transfer {label}": attacks.adversarial_examples(substitute, split.x, split.y, eps, attack=attack, **kwargs)
            for label, (attack, eps, kwargs) in suite.items()}


def robustness_table(models_by_label, split, attacks_to_run, *, transfer=None):
    """Clean accuracy and accuracy under each attack, one row per model (a DataFrame).

    ``attacks_to_run``: ``{column: (attack, eps, kwargs)}``, each run on the model itself (white-box);
    ``transfer``: ``{column: adversarial images}`` made elsewhere (black-box), evaluated as they are.
    """
    rows = {}
    for label, model in models_by_label.items():
        row = {"clean": accuracy(model, split)}
        for column, (attack, eps, kwargs) in attacks_to_run.items():
            row[column] = accuracy(model, attacked(model, split, eps, attack=attack, **kwargs))
        for column, x_adv in (transfer or {}).items():
            row[column] = accuracy(model, data.Split(x_adv, split.y))
        rows[label] = row
    return pd.DataFrame(rows).T


def _share(hits, among):
    """The share of ``among`` (a boolean mask) where ``hits`` holds; NaN when ``among`` is empty."""
    return hits[among].float().mean().item() if among.any() else float("nan")


def agreement_on_errors(source, others, split, eps, **attack_kwargs):
    """Cross-model agreement (F14) on the FGSM examples of ``source``, in the conditionings the paper may mean. On the
    examples ``source`` gets wrong, for each model of ``others`` (``{name: model}``): the share it also gets wrong
    (``<name>_misclassified``), the share where it picks the source's wrong class (``<name>_same_class``: the paper's
    54.6% and 16.0%), and that share among the examples both get wrong (``<name>_same_class_both_wrong``: the paper's
    "cases where both models being compared make a mistake", 84.6% and 54.3%). For each pair ``a``, ``b`` of them:
    the share where the two pick the same class, on the source's mistakes (``<a>_<b>_agreement``, both right included),
    on those both of them get wrong too (``<a>_<b>_agreement_both_wrong``: our reading of the paper's 53.6%), and on
    every adversarial example both get wrong (``<a>_<b>_agreement_both_wrong_all``)."""
    x_adv = attacks.adversarial_examples(source, split.x, split.y, eps, **attack_kwargs)
    source_class = predict(source, x_adv)
    source_wrong = source_class != split.y
    predicted = {name: predict(model, x_adv) for name, model in others.items()}
    report = {}
    for name, classes in predicted.items():
        wrong = classes != split.y
        report[f"{name}_misclassified"] = _share(wrong, source_wrong)
        report[f"{name}_same_class"] = _share(classes == source_class, source_wrong)
        report[f"{name}_same_class_both_wrong"] = _share(classes == source_class, source_wrong & wrong)
    for (a, classes_a), (b, classes_b) in itertools.combinations(predicted.items(), 2):
        same, both_wrong = classes_a == classes_b, (classes_a != split.y) & (classes_b != split.y)
        report[f"{a}_{b}_agreement"] = _share(same, source_wrong)
        report[f"{a}_{b}_agreement_both_wrong"] = _share(same, source_wrong & both_wrong)
        report[f"{a}_{b}_agreement_both_wrong_all"] = _share(same, both_wrong)
    return report


def ensemble_report(ensemble, split, eps, sizes, **fgsm_kwargs):
    """F15's alternatives to the scored ensemble (averaged softmax outputs, attacked through the loss of that average):
    ``adv_error_mean_cross_entropy_attack``, its error when FGSM instead follows the mean of the members'
    cross-entropies; ``clean_error_majority_vote`` / ``adv_error_majority_vote``, the error when the members vote
    (ties to the lowest class) instead of averaging, on clean and on the scored FGSM examples; and
    ``adv_error_members_<k>`` for each ``k`` of ``sizes``, the white-box FGSM error of the average of its first
    ``k`` members."""
    split = split.float()
    stacked = models.MemberOutputs(ensemble)
    through_members = attacks.adversarial_examples(stacked, split.x, split.y, eps,
                                                   loss_fn=models.mean_member_cross_entropy, **fgsm_kwargs)
    scored = attacked(ensemble, split, eps, **fgsm_kwargs)
    report = {"adv_error_mean_cross_entropy_attack": evaluate(ensemble, data.Split(through_members, split.y))["error"]}
    for name, images in (("clean", split.x), ("adv", scored.x)):
        votes = torch.stack([predict(member, images) for member in ensemble.members])
        report[f"{name}_error_majority_vote"] = (votes.mode(dim=0).values != split.y).float().mean().item()
    for k in sizes:
        report[f"adv_error_members_{k}"] = fgsm_report(models.Ensemble(ensemble.members[:k]).eval(), split, eps,
                                                       **fgsm_kwargs)["adv_error"]
    return report


def rubbish_report(model, samples):
    """Rubbish examples (F17, F18): the share of ``samples`` given some class with probability above 0.5
    (``error``), and the mean top probability over those (``confidence``; NaN if there are none)."""
    top = predict_proba(model, samples).max(1).values
    fooled = top > RUBBISH_THRESHOLD
    return {"error": fooled.float().mean().item(),
            "confidence": top[fooled].mean().item() if fooled.any() else float("nan")}


@torch.no_grad()
def largest_log_probability(model, samples, batch_size=1000):
    """The largest log-probability any class gets on any of ``samples`` (for the RBF network, ``-min d``, the smallest
    weighted distance to a prototype: a class scores above 0.5 only where ``d < ln 2``)."""
    dev = models.device(model)
    with models.eval_mode(model):
        best = [_log_probabilities(model, model(xb.to(dev))).max() for xb in samples.split(batch_size)]
    return max(best).item()


def _log_probabilities(model, outputs):
    if models.independent_classes(model):
        return model.log_probabilities(outputs)[0]
    return torch.nn.functional.log_softmax(outputs, dim=1)


def rubbish_classes(model, samples, classes):
    """Which classes the rubbish examples counted as errors land in: shares summing to 1."""
    probs = predict_proba(model, samples)
    fooled = probs.max(1).values > RUBBISH_THRESHOLD
    counts = probs.argmax(1)[fooled].bincount(minlength=classes).float()
    return (counts / counts.sum().clamp_min(1)).tolist()


def targeted_success_rates(model, samples, classes, eps, *, criterion="probability", **fgsm_kwargs):
    """For each class c: the share of ``samples`` that one targeted FGSM step of size eps toward c (unclipped unless
    ``clip`` is given; eps 0: no step) fools the model into c. ``criterion``: ``"probability"``, the class gets at
    least :data:`RUBBISH_THRESHOLD` (the FGSM paper's figure of fooling images: "at least 50% confidence"), or
    ``"argmax"``, the class is the prediction."""
    if criterion not in ("probability", "argmax"):
        raise ValueError(f"unknown criterion {criterion!r}: 'probability' or 'argmax'")
    fgsm_kwargs.setdefault("clip", None)
    rates = []
    for c in range(classes):
        target = torch.full((len(samples),), c, dtype=torch.long)
        stepped = attacks.adversarial_examples(model, samples, target, eps, targeted=True, **fgsm_kwargs)
        probs = predict_proba(model, stepped)
        fooled = probs[:, c] >= RUBBISH_THRESHOLD if criterion == "probability" else probs.argmax(1) == c
        rates.append(fooled.float().mean().item())
    return rates


@torch.no_grad()
def images_along_fgsm_direction(model, x, y, eps_values):
    """``x + eps * sign(grad_x J(x, y))`` for each eps, unclipped, for one example ``x`` (1 x C x H x W): a tensor of
    shape len(eps_values) x C x H x W on the model's device."""
    direction = attacks.fgsm(model, x, y, 1.0, clip=None) - x.to(models.device(model, default=x.device))
    steps = torch.as_tensor(eps_values, dtype=x.dtype, device=direction.device).view(-1, 1, 1, 1)
    return x.to(direction.device) + steps * direction


def outputs_along_fgsm_direction(model, x, y, eps_values):
    """The model's outputs (e.g. the softmax arguments) at each of :func:`images_along_fgsm_direction`: a tensor of
    shape len(eps_values) x classes. The FGSM paper's Figure 4 plots these against eps to show how linear the model
    is along the direction."""
    images = images_along_fgsm_direction(model, x, y, eps_values)
    with models.eval_mode(model), torch.no_grad():
        return model(images).cpu()


def linearity_r2(eps_values, outputs):
    """For each class, the R^2 of a straight-line fit of its output against eps: 1 means perfectly linear."""
    eps = torch.as_tensor(eps_values, dtype=torch.float64, device="cpu")  # host numbers, as the outputs come back
    outputs = torch.as_tensor(outputs, dtype=torch.float64, device="cpu")
    design = torch.stack([eps, torch.ones_like(eps)], dim=1)
    coefficients = torch.linalg.lstsq(design, outputs).solution
    residual = ((outputs - design @ coefficients) ** 2).sum(0)
    total = ((outputs - outputs.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return (1 - residual / total).tolist()


def linearity_along_fgsm(model, x, y, eps_values):
    """F19 for one example: its ``outputs`` along the FGSM direction (:func:`outputs_along_fgsm_direction`), the
    ``band`` of eps where the true class wins (``(low, high)``, or None), and per class the R^2 of a straight line
    on each side of eps = 0 (``r2_right``, ``r2_left``)."""
    eps_values = torch.as_tensor(eps_values, device="cpu")
    outputs = outputs_along_fgsm_direction(model, x, y, eps_values)
    band = eps_values[outputs.argmax(1) == int(y[0])]
    right, left = eps_values >= 0, eps_values <= 0
    return {"outputs": outputs, "band": (float(band.min()), float(band.max())) if len(band) else None,
            "r2_right": linearity_r2(eps_values[right], outputs[right]),
            "r2_left": linearity_r2(eps_values[left], outputs[left])}


def weight_concentration(weights, top=0.1):
    """How localized filters are: per row of ``weights``, the share of its absolute weight mass held by its ``top``
    fraction of largest entries, averaged over rows (1 = all mass on a few pixels)."""
    magnitude = weights.abs()
    k = max(1, int(top * magnitude.shape[1]))
    return (magnitude.topk(k, dim=1).values.sum(1) / magnitude.sum(1).clamp_min(1e-12)).mean().item()


def loss_gradient_size(model, split, parameter):
    """``{"mean": ..., "max": ...}`` of ``|dJ/dp|`` over the entries of ``parameter`` (one of ``model``'s), for the
    model's mean loss on ``split`` in eval mode: how hard the data pulls on each weight, to set beside a penalty's
    constant pull (L1 weight decay pulls every weight toward 0 with ``lambda``; F5)."""
    split = split.float()
    dev = models.device(model)
    with models.eval_mode(model), torch.enable_grad():
        loss = models.loss(model, model(split.x.to(dev)), split.y.to(dev))
        (grad,) = torch.autograd.grad(loss, parameter)
    return {"mean": grad.abs().mean().item(), "max": grad.abs().max().item()}


# The PGD sanity checks a model must pass for its PGD numbers to be trusted; "fgsm_monotone_in_eps" is for information.
PGD_SANITY_CHECKS = ("iterative_at_least_as_strong", "white_box_at_least_as_strong_as_transfer", "pgd_monotone_in_eps",
                     "reaches_chance")
# The checks of the scored attack (scored_attack_checks): whether the robustness a claim is scored on is real.
SCORED_ATTACK_CHECKS = ("scored_monotone_up_to_its_eps", "scored_finds_half_of_strongest",
                        "scored_at_least_as_strong_as_transfer")


def pgd_sanity_checks(fgsm_curve, pgd_curve, transfer_accuracy, chance, *, tolerance=0.01):
    """The standard sanity checks of an iterative attack (Athalye, Carlini & Wagner, 2018; Carlini et al., "On
    evaluating adversarial robustness", 2019): they say whether *our PGD* is sound, not whether the robustness a
    claim is scored on (FGSM's, say) is real: :func:`scored_attack_checks` asks that.

    ``fgsm_curve`` / ``pgd_curve``: ``{eps: white-box accuracy}`` over the same eps values (0 included if
    wanted); ``transfer_accuracy``: ``{eps: accuracy}`` under black-box examples from a substitute at
    some of those eps; ``chance``: 1 / classes. A check passes within ``tolerance`` (sampling noise):

    - ``iterative_at_least_as_strong``: PGD accuracy <= FGSM accuracy at every eps;
    - ``white_box_at_least_as_strong_as_transfer``: PGD accuracy <= transfer accuracy where both exist;
    - ``pgd_monotone_in_eps``: PGD accuracy never rises as eps grows. Only the iterative attack is held to
      it: one large FGSM step overshoots (the loss along a fixed sign direction is not monotone far from
      x), so FGSM accuracy often rises again at large eps on any model; ``fgsm_monotone_in_eps`` reports
      it, for information;
    - ``reaches_chance``: PGD accuracy at the largest eps is at most chance.
    """
    eps = sorted(pgd_curve)
    return {
        "iterative_at_least_as_strong": all(pgd_curve[e] <= fgsm_curve[e] + tolerance for e in eps),
        "white_box_at_least_as_strong_as_transfer": all(pgd_curve[e] <= acc + tolerance
                                                        for e, acc in transfer_accuracy.items()),
        "pgd_monotone_in_eps": not _rises(pgd_curve, eps, tolerance),
        "reaches_chance": pgd_curve[eps[-1]] <= chance + tolerance,
        "fgsm_monotone_in_eps": not _rises(fgsm_curve, eps, tolerance),
    }


def _rises(curve, eps, tolerance):
    return any(curve[b] > curve[a] + tolerance for a, b in zip(eps, eps[1:]))


def scored_attack_checks(scored_curve, strongest_curve, transfer_accuracy, eps, *, tolerance=0.01):
    """Whether the robustness measured by the *scored* attack (FGSM for the FGSM paper's claims) at its ``eps`` is
    real, or the scored attack's gradient no longer points where the loss rises (gradient masking). The rules,
    written before any model was checked (each within ``tolerance``, sampling noise):

    - ``scored_monotone_up_to_its_eps``: the scored attack's accuracy (``scored_curve``, ``{eps: accuracy}``) never
      rises as eps grows up to ``eps`` (a bigger step of a working attack cannot fool fewer images there);
    - ``scored_finds_half_of_strongest``: at ``eps`` its error is at least half the strongest attack's
      (``strongest_curve``, e.g. PGD with many steps): a masked attack finds a small part of what is there;
    - ``scored_at_least_as_strong_as_transfer``: at ``eps`` its accuracy is at most the accuracy under examples
      transferred from another model (``transfer_accuracy``, ``{eps: accuracy}``): white-box must beat black-box.
    """
    upto = sorted(e for e in scored_curve if e <= eps + 1e-12)
    scored_error, strongest_error = 1 - scored_curve[eps], 1 - strongest_curve[eps]
    return {
        "scored_monotone_up_to_its_eps": not _rises(scored_curve, upto, tolerance),
        "scored_finds_half_of_strongest": scored_error + tolerance >= 0.5 * strongest_error,
        "scored_at_least_as_strong_as_transfer": scored_curve[eps] <= transfer_accuracy[eps] + tolerance,
    }


def masking_report(model, split, eps_values, transfer_accuracy, chance, *, pgd_steps, seed=0, scored_eps=None,
                   **attack_kwargs):
    """The FGSM and PGD accuracy-vs-eps curves of ``model``, the :func:`pgd_sanity_checks` on them and, with
    ``scored_eps`` (FGSM the scored attack, PGD the strongest), the :func:`scored_attack_checks`:
    ``({"FGSM": curve, "PGD-<steps>": curve}, checks)``; ``attack_kwargs`` (e.g. ``clip``) go to both attacks."""
    fgsm = accuracy_curve(model, split, attacks.fgsm, eps_values, **attack_kwargs)
    pgd = accuracy_curve(model, split, attacks.pgd, eps_values, steps=pgd_steps, seed=seed, **attack_kwargs)
    checks = pgd_sanity_checks(fgsm, pgd, transfer_accuracy, chance)
    if scored_eps is not None:
        checks.update(scored_attack_checks(fgsm, pgd, transfer_accuracy, scored_eps))
    return {"FGSM": fgsm, f"PGD-{pgd_steps}": pgd}, checks
