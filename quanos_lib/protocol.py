"""How notebook 07 scores QUANOS's robustness claims (Q4, Q6, Q7): a protocol fixed before any result was seen.

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
   two models whose mean clean accuracies differ by more than :data:`ISO_ACCURACY` are *not* at iso-accuracy,
   and :func:`comparison` says so.
"""
import math

import pandas as pd
from tqdm.auto import tqdm

from . import attacks, data, evaluation, results, training
from .profiles import eps_text

ISO_ACCURACY = 0.01  # two models are at iso-accuracy when their mean clean accuracies differ by at most 1 point


def pgd_name(scale):
    return f"PGD-{scale['pgd_steps']}"


def transfer_images(substitute, split, scale, *, seed=0):
    """The black-box attacker's examples: PGD (as in :func:`curves`) on ``substitute`` at every curve eps,
    ``{eps: images}``, crafted once and handed to every model."""
    return {eps: evaluation.attacked(substitute, split, eps, attack=attacks.pgd, steps=scale["pgd_steps"], seed=seed).x
            for eps in scale["curve_eps"]}


def curves(model, split, scale, *, seed=0, transfer=None):
    """Accuracy of ``model`` on ``split`` against eps (0 and ``scale["curve_eps"]``): ``{"FGSM": {eps: accuracy},
    "PGD-<steps>": {...}}``, plus ``"transfer PGD-<steps>"`` on the ``transfer`` images (:func:`transfer_images`)."""
    grid = [0.0, *scale["curve_eps"]]
    found = {"FGSM": evaluation.accuracy_curve(model, split, attacks.fgsm, grid),
             pgd_name(scale): evaluation.accuracy_curve(model, split, attacks.pgd, grid, steps=scale["pgd_steps"],
                                                        seed=seed, stop_when_fooled=True)}
    if transfer is not None:
        clean = found["FGSM"][0.0]
        found[f"transfer {pgd_name(scale)}"] = {0.0: clean, **{
            eps: evaluation.accuracy(model, data.Split(images, split.y)) for eps, images in transfer.items()}}
    return found


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
    """One row per compared pair (``{name: (ours, baseline)}``): each model's mean clean accuracy, whether they are
    at iso-accuracy (:data:`ISO_ACCURACY`), and per column the mean gain with its 95% interval, as text."""
    rows = {}
    for name, (ours, baseline) in pairs.items():
        clean = {label: sum(table.at[label, "clean"] for table in tables.values()) / len(tables)
                 for label in (ours, baseline)}
        row = {"ours": ours, "baseline": baseline, "clean (ours)": results.format_value(clean[ours]),
               "clean (baseline)": results.format_value(clean[baseline]),
               "iso-accuracy": "yes" if abs(clean[ours] - clean[baseline]) <= ISO_ACCURACY else
               f"no ({100 * (clean[ours] - clean[baseline]):+.1f} points clean)"}
        for column, gain in gains(tables, ours, baseline, columns).items():
            low, high = (results.format_value(value, "points") for value in gain["interval"])
            row[f"gain, {column}"] = f"{results.format_value(gain['value'], 'points')} [{low}, {high}]"
        rows[name] = row
    return pd.DataFrame(rows).T


def table(models_by_label, split, scale, *, seed=0, transfer=None):
    """:func:`summary` of every model (one row each) and their :func:`curves` (``{label: curves}``)."""
    found = {label: curves(model, split, scale, seed=seed, transfer=transfer)
             for label, model in tqdm(models_by_label.items(), desc="attacking", unit="model", leave=False,
                                        disable=training.progress_disabled())}
    return pd.DataFrame({label: summary(c, scale) for label, c in found.items()}).T, found


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
