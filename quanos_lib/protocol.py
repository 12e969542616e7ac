"""How notebook 07 scores QUANOS's robustness claims (Q4, Q6, Q7).

1. Every model is attacked white-box on the same test images: FGSM and PGD (``scale["pgd_steps"]`` steps, a
   random start seeded by the run's seed; an image counts as robust only if no iterate fools it, as AutoAttack
   and RobustBench score: :func:`quanos_lib.attacks.pgd`'s ``stop_when_fooled``, several times cheaper than
   attacking every image for every step) at eps 0 and every eps of ``scale["curve_eps"]`` (1/255 ... 16/255),
   and black-box with PGD examples (last iterate) crafted on a substitute (:func:`transfer_images`). Test images only score:
   every choice (bit widths, calibration, early stopping) was made on training or validation images.
2. Its scored robustness (:func:`summary`) is the area under its PGD curve over [0, ``scale["area_max_eps"]``]
   (8/255; :func:`quanos_lib.evaluation.robustness_area`, the mean accuracy over that range) and its PGD
   accuracy at each eps of ``scale["gain_eps"]`` (2/255, 4/255): at 8/255 and above, every model without
   adversarial training is at the floor (0%), where any gain is 0 by construction.
3. A claim compares two models seed by seed (the same seed: the same fine-tuning seed and PGD start):
   :func:`gains` gives, per scored column, ``ours - baseline`` as a mean with its 95% interval over the seeds
   (:func:`quanos_lib.results.over_seeds`), which the scorecard judges. Clean accuracy stands beside every gain;
   two models whose validation accuracies differ by more than :data:`quanos_lib.paper.ISO_ACCURACY_TOL` in a seed are
   *not* at iso-accuracy (:func:`validation_accuracy_metrics`; the scorecard then says *not comparable*).
4. Beside the scored attacks, stronger ones (:func:`strong_attacks`: AutoAttack's, PGD with restarts and a margin
   loss, transfer from the model's float twin), and the scored attack's own masking checks against them.

Its settings changed after results had been seen, each for a reason: :mod:`quanos_lib.protocol_log` lists them.
"""
import math

import pandas as pd
import torch

from . import attacks, autoattack, data, evaluation, paper, results, training
from .profiles import eps_text
from .progress import bar as progress_bar

def pgd_name(scale):
    return f"PGD-{scale['pgd_steps']}"


def transfer_images(substitute, split, scale, *, seed=0):
    """The black-box attacker's examples: PGD (as in :func:`curves`) on ``substitute`` at every curve eps,
    ``{eps: images}``, crafted once and handed to every model."""
    return {eps: evaluation.attacked(substitute, split, eps, attack=attacks.pgd, steps=scale["pgd_steps"], seed=seed).x
            for eps in scale["curve_eps"]}


def curves(model, split, scale, *, seed=0, transfer=None, per_example=False):
    """Accuracy of ``model`` on ``split`` against eps (0 and ``scale["curve_eps"]``): ``{"FGSM": {eps: accuracy},
    "PGD-<steps>": {...}}``, plus ``"transfer PGD-<steps>"`` on the ``transfer`` images (:func:`transfer_images`).
    ``per_example``: each image's correctness instead of each accuracy (:func:`accuracies` gives them back), for
    intervals over the test images."""
    grid = [0.0, *scale["curve_eps"]]
    found = {"FGSM": evaluation.accuracy_curve(model, split, attacks.fgsm, grid, per_example=True),
             pgd_name(scale): evaluation.accuracy_curve(model, split, attacks.pgd, grid, steps=scale["pgd_steps"],
                                                        seed=seed, stop_when_fooled=True, per_example=True)}
    if transfer is not None:
        found[f"transfer {pgd_name(scale)}"] = {0.0: found["FGSM"][0.0], **{
            eps: evaluation.correct(model, data.Split(images, split.y)) for eps, images in transfer.items()}}
    return found if per_example else accuracies(found)


def accuracies(per_example_curves):
    """:func:`curves` with ``per_example`` back to accuracies: ``{attack: {eps: accuracy}}``."""
    return {attack: {eps: correct.float().mean().item() for eps, correct in curve.items()}
            for attack, curve in per_example_curves.items()}


def summary(model_curves, scale):
    """The scored numbers of one model, from its :func:`curves`: ``clean``, ``PGD area`` (the scored area),
    PGD accuracy at each ``gain_eps`` (scored) and at ``eps``; ``FGSM area``, FGSM at ``eps`` and ``transfer area``
    where measured (beside the scored ones)."""
    pgd, fgsm, max_eps = model_curves[pgd_name(scale)], model_curves["FGSM"], scale["area_max_eps"]
    row = {"clean": pgd[0.0], "PGD area": evaluation.robustness_area(pgd, max_eps)}
    points = list(dict.fromkeys([*scale["gain_eps"], scale["eps"]]))
    if any(eps not in pgd for eps in points):
        raise ValueError(f"the curves must include every gain eps and eps: {points}, they have {sorted(pgd)}")
    row.update({f"PGD {eps_text(eps)}": pgd[eps] for eps in points})
    row.update({"FGSM area": evaluation.robustness_area(fgsm, max_eps), f"FGSM {eps_text(scale['eps'])}": fgsm[scale["eps"]]})
    transfer = model_curves.get(f"transfer {pgd_name(scale)}")
    if transfer is not None:
        row["transfer area"] = evaluation.robustness_area(transfer, max_eps)
    return row


def scored_columns(scale):
    """The columns of :func:`summary` that the scorecard judges: the PGD area and PGD at each ``gain_eps``."""
    return ["PGD area", *(f"PGD {eps_text(eps)}" for eps in scale["gain_eps"])]


def metric_name(column):
    """A summary column as part of a metric name: ``PGD area`` -> ``pgd_area``, ``PGD 2/255`` -> ``pgd_at_2_255``."""
    name = column.lower().replace(" area", "_area")
    if "/" in name:
        attack, eps = name.split(" ")
        name = f"{attack}_at_{eps.replace('/', '_')}"
    return name.replace(" ", "_")


def gains(tables, ours, baseline, columns):
    """``{column: over_seeds(ours - baseline)}`` across the seeds of ``tables`` (``{seed: summary DataFrame}``,
    one row per model): the same seed's two models are compared, then the differences are averaged."""
    return {column: results.over_seeds([table.at[ours, column] - table.at[baseline, column]
                                        for table in tables.values()]) for column in columns}


def comparison(tables, pairs, columns):
    """One row per compared pair (``{name: (ours, baseline)}``): each model's mean clean test accuracy, whether their
    means are within :data:`quanos_lib.paper.ISO_ACCURACY_TOL` of each other (the scorecard judges iso-accuracy per
    seed on validation accuracy), and per column the mean gain with its 95% interval, as text."""
    rows = {}
    for name, (ours, baseline) in pairs.items():
        clean = {label: sum(table.at[label, "clean"] for table in tables.values()) / len(tables)
                 for label in (ours, baseline)}
        row = {"ours": ours, "baseline": baseline, "clean (ours)": results.format_value(clean[ours]),
               "clean (baseline)": results.format_value(clean[baseline]),
               "iso-accuracy": "yes" if abs(clean[ours] - clean[baseline]) <= paper.ISO_ACCURACY_TOL else
               f"no ({100 * (clean[ours] - clean[baseline]):+.1f} points clean)"}
        for column, gain in gains(tables, ours, baseline, columns).items():
            low, high = (results.format_value(value, "points") for value in gain["interval"])
            row[f"gain, {column}"] = f"{results.format_value(gain['value'], 'points')} [{low}, {high}]"
        rows[name] = row
    return pd.DataFrame(rows).T


def table(models_by_label, split, scale, *, seed=0, transfer=None, per_example=False):
    """:func:`summary` of every model (one row each) and their :func:`curves` (``{label: curves}``; per example
    with ``per_example``)."""
    with progress_bar(models_by_label.items(), desc="attacking", unit="model") as labelled_models:
        found = {label: curves(model, split, scale, seed=seed, transfer=transfer, per_example=per_example)
                 for label, model in labelled_models}
    scored = {label: accuracies(c) if per_example else c for label, c in found.items()}
    return pd.DataFrame({label: summary(c, scale) for label, c in scored.items()}).T, found


def validation_accuracy(history):
    """A trained model's validation accuracy at the epoch it kept (its history's ``val_error`` at ``best_epoch``)."""
    return 1 - history["val_error"][history["best_epoch"]]


def validation_accuracy_metrics(compared, ours, baseline, suffix):
    """Each seed's validation accuracy of ``ours`` and ``baseline`` at their kept epochs, over the seeds of
    ``compared`` (``{seed: {label: (model, history)}}``), as recorded metrics (``val_accuracy_<suffix>_ours`` /
    ``_baseline``): the measurement a claim "at iso-accuracy" is judged on, seed by seed (:class:`quanos_lib.paper.Iso`);
    validation images, never test ones, so that the judgement chooses nothing on test images."""
    return {f"val_accuracy_{suffix}_{role}": results.over_seeds([validation_accuracy(models[label][1])
                                                                   for models in compared.values()])
            for role, label in (("ours", ours), ("baseline", baseline))}


def matched_epoch(history, accuracy, tol):
    """The epoch (1-based), among those a baseline kept its weights after, whose validation accuracy is nearest
    ``accuracy``, if within ``tol``; else None. Chosen on the validation curve, never on test images."""
    gaps = {int(epoch): abs(1 - history["val_error"][int(epoch) - 1] - accuracy) for epoch in history["snapshots"]}
    epoch = min(gaps, key=gaps.get, default=None)
    return epoch if epoch is not None and gaps[epoch] <= tol else None


def matched_comparison(compared, tables, ours, baseline, split, scale, *, tol, transfer=None):
    """The comparison at matched accuracy, seed by seed: the baseline at the epoch whose validation accuracy matches
    ours' kept epoch (:func:`matched_epoch`), scored by the protocol on ``split``, and ours' gain over it on the scored
    columns (``tables``: the seeds' :func:`table` summaries, ours' row among them). A row per seed; the gains are
    absent where no epoch of the budget matches."""
    rows, columns = {}, scored_columns(scale)
    for seed, models in compared.items():
        (_, our_history), (base_model, base_history) = models[ours], models[baseline]
        ours_accuracy = validation_accuracy(our_history)
        epoch = matched_epoch(base_history, ours_accuracy, tol)
        row = {"ours: validation accuracy": ours_accuracy,
               "baseline: validation accuracy (kept epoch)": validation_accuracy(base_history),
               "baseline: matched epoch": epoch if epoch else "no matched point within the budget"}
        if epoch:
            matched = training.at_snapshot(base_model, base_history, epoch)
            at_match = summary(curves(matched, split, scale, seed=seed, transfer=transfer), scale)
            row["baseline: validation accuracy (matched epoch)"] = 1 - base_history["val_error"][epoch - 1]
            row.update({f"gain, {column}": tables[seed].at[ours, column] - at_match[column] for column in columns})
        rows[seed] = row
    return pd.DataFrame(rows).T.rename_axis("seed")


def gain_metrics(tables, ours, baseline, suffix, columns):
    """:func:`gains` as recorded metrics: ``{"<metric_name(column)>_gain_<suffix>": over_seeds}``, plus each
    model's clean accuracy over the seeds (``clean_accuracy_<suffix>_ours`` / ``_baseline``)."""
    found = {f"{metric_name(column)}_gain_{suffix}": gain for column, gain in gains(tables, ours, baseline, columns).items()}
    for role, label in (("ours", ours), ("baseline", baseline)):
        found[f"clean_accuracy_{suffix}_{role}"] = results.over_seeds([table.at[label, "clean"] for table in tables.values()])
    return found


def masking_checks(model, split, model_curves, scale, *, chance, seed=0):
    """:func:`quanos_lib.evaluation.pgd_sanity_checks` on a model's :func:`curves`, extended to the largest
    eps of ``scale["masking_eps"]`` (64/255, where PGD must bring any model to chance). Returns ``(curves, checks)``."""
    big, pgd = max(scale["masking_eps"]), pgd_name(scale)
    fgsm_curve = {**model_curves["FGSM"], **evaluation.accuracy_curve(model, split, attacks.fgsm, [big])}
    pgd_curve = {**model_curves[pgd], **evaluation.accuracy_curve(model, split, attacks.pgd, [big],
                                                                  steps=scale["pgd_steps"], seed=seed,
                                                                  stop_when_fooled=True)}
    transfer = {eps: value for eps, value in model_curves.get(f"transfer {pgd}", {}).items() if eps}
    return ({"FGSM": fgsm_curve, pgd: pgd_curve},
            evaluation.pgd_sanity_checks(fgsm_curve, pgd_curve, transfer, chance))


SCORED = "scored PGD"


def strong_attacks(model, split, scale, *, sources, seed=0):
    """Each image's correctness under the strongest attacks we can run, beside the scored PGD, at every eps of
    ``scale["gain_eps"]`` (where the claims are decided): ``{eps: {attack: correct}}``. The suite (its budgets in
    ``scale["strong"]``, recorded with the results): the scored PGD itself (:data:`SCORED`); AutoAttack's attacks as
    :func:`quanos_lib.autoattack.autoattack` cascades them; PGD with ``steps`` steps from ``restarts`` random starts,
    with cross-entropy and with the margin loss (:func:`quanos_lib.attacks.pgd_restarts`); and PGD examples (same steps,
    one start, last iterate) transferred from each model of ``sources`` (``{label: model}``: the model's own float
    twin, the substitute)."""
    strong, x, y = scale["strong"], split.float().x, split.y
    budget = {"steps": strong["steps"], "restarts": strong["restarts"], "seed": seed}
    found = {}
    for eps in scale["gain_eps"]:
        made = {SCORED: attacks.adversarial_examples(model, x, y, eps, attack=attacks.pgd, steps=scale["pgd_steps"],
                                                     seed=seed, stop_when_fooled=True),
                "AutoAttack (reduced)": autoattack.autoattack(model, x, y, eps, seed=seed, **strong["autoattack"]),
                f"PGD-{strong['steps']} x {strong['restarts']}, cross-entropy": attacks.pgd_restarts(
                    model, x, y, eps, **budget),
                f"PGD-{strong['steps']} x {strong['restarts']}, margin": attacks.pgd_restarts(
                    model, x, y, eps, loss_fn=attacks.margin_loss, **budget)}
        made.update({f"transfer from {label}": attacks.adversarial_examples(source, x, y, eps, attack=attacks.pgd,
                                                                            steps=strong["steps"], seed=seed)
                     for label, source in sources.items()})
        found[eps] = {attack: evaluation.correct(model, data.Split(images, y)) for attack, images in made.items()}
    return found


def strongest(per_attack):
    """Each image robust only if every attack of :func:`strong_attacks` failed on it (the worst case over the suite)."""
    return torch.stack(list(per_attack.values())).all(0)


def attack_gap(per_attack, *, resamples=1000, seed=0):
    """How much the scored PGD overstates robustness on these images: its accuracy minus the worst case's over the
    suite (:func:`strongest`), with a 95% bootstrap interval over the images (paired: the same images)."""
    pairs = torch.stack([per_attack[SCORED], strongest(per_attack)], dim=1).float()
    return results.bootstrap(pairs, lambda sample: sample[:, 0].mean() - sample[:, 1].mean(), resamples=resamples,
                             seed=seed)


def strong_attack_table(found):
    """:func:`strong_attacks` of several models (``{label: found}``) as accuracies, one row per model and eps, one
    column per attack, with the worst case over the suite."""
    rows = {(label, eps_text(eps)): {**{attack: correct.float().mean().item() for attack, correct in per_attack.items()},
                                     "worst case over the suite": strongest(per_attack).float().mean().item()}
            for label, by_eps in found.items() for eps, per_attack in by_eps.items()}
    return pd.DataFrame(rows).T.rename_axis(["model", "eps"])


def scored_attack_checks(model_curves, per_eps, scale):
    """:func:`quanos_lib.evaluation.scored_attack_checks` of the scored PGD (its curve from :func:`curves`) against
    the worst case of :func:`strong_attacks` and the strongest transfer, at the largest eps of ``scale["gain_eps"]``."""
    eps = max(scale["gain_eps"])
    worst = {e: strongest(per_attack).float().mean().item() for e, per_attack in per_eps.items()}
    transfer = {e: min(correct.float().mean().item() for attack, correct in per_attack.items()
                       if attack.startswith("transfer")) for e, per_attack in per_eps.items()}
    return evaluation.scored_attack_checks(model_curves[pgd_name(scale)], worst, transfer, eps)


def front_table(summary_table, costs):
    """The robustness-cost front: each model's :func:`summary` joined to its costs
    (:func:`quanos_lib.energy.cost_table`), with a ``family`` column (homogeneous, QUANOS, 32-bit float) for
    :func:`quanos_lib.plotting.robustness_front`."""
    table = costs.join(summary_table, how="inner")
    table["family"] = ["QUANOS" if label.startswith("QUANOS") else label if label == "32-bit float" else "homogeneous"
                       for label in table.index]
    return table


def margin_over_front(table, robustness="PGD area", cost="size (kbit)"):
    """How far each QUANOS model of a :func:`front_table` lies above (+) or below (-) the homogeneous front at its
    own cost: its ``robustness`` minus the homogeneous models' interpolated linearly in log cost between the two
    neighbouring widths (None outside the front's cost range). ``{label: margin}``."""
    homogeneous = table[table["family"] == "homogeneous"].sort_values(cost)
    costs, values = homogeneous[cost].astype(float).map(math.log).tolist(), homogeneous[robustness].tolist()
    margins = {}
    for label, row in table[table["family"] == "QUANOS"].iterrows():
        x = math.log(float(row[cost]))
        pairs = [(i, i + 1) for i in range(len(costs) - 1) if costs[i] <= x <= costs[i + 1]]
        if not pairs:
            margins[label] = None
            continue
        i, j = pairs[0]
        share = 0.0 if costs[j] == costs[i] else (x - costs[i]) / (costs[j] - costs[i])
        margins[label] = float(row[robustness] - (values[i] + share * (values[j] - values[i])))
    return margins


def margin_intervals(table, per_example_curves, scale, *, cost="size (kbit)", resamples=1000, seed=0):
    """:func:`margin_over_front` of every QUANOS model with a 95% bootstrap interval over the front's test images:
    each resample of the images recomputes every model's PGD area from its per-image correctness
    (``per_example_curves``: ``{label: curves}`` of :func:`curves` with ``per_example``) and the margins from those.
    ``{label: bootstrap result}`` (None outside the front's cost range)."""
    name, max_eps = pgd_name(scale), scale["area_max_eps"]
    labels = list(table.index)
    grid = sorted(eps for eps in per_example_curves[labels[0]][name] if eps <= max_eps + 1e-12)
    stacked = torch.stack([torch.stack([per_example_curves[label][name][eps] for eps in grid], dim=1)
                           for label in labels], dim=1).float()  # images x models x eps

    def margins(sample):
        means = sample.mean(0)
        areas = {label: evaluation.robustness_area(dict(zip(grid, means[i].tolist())), max_eps)
                 for i, label in enumerate(labels)}
        return margin_over_front(table.assign(**{"PGD area": pd.Series(areas)}), cost=cost)

    point = margins(stacked)
    return {label: None if point[label] is None else
            results.bootstrap(stacked, lambda sample, label=label: margins(sample)[label] or 0.0, resamples=resamples,
                              seed=seed)
            for label in point}

