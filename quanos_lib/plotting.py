"""One look for every figure, and saving that gives byte-identical files on a rerun.

``save_figure(fig, name, profile)`` writes ``figures/<profile>/<name>.png`` and ``.pdf`` (for ``smoke``, into
the scratch folder: see :func:`quanos_lib.results.output_root`). Dates, software versions and other
varying metadata are left out of both files, so regenerating a figure from the same numbers does not
change it in git.
"""
import itertools

import matplotlib.lines
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import seaborn as sns

from . import evaluation, results
from .profiles import eps_text, whole_8bit_steps

PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}


def set_theme():
    """The companion's single theme (seaborn, white grid, readable fonts, fixed DPI)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight", "pdf.fonttype": 42,
                      "svg.hashsalt": "quanos", "image.interpolation": "nearest"})


def save_figure(fig, name, profile):
    """Write ``figures/<profile>/<name>.png`` and ``.pdf`` (:func:`quanos_lib.results.figures_dir`)
    deterministically; returns the PNG path."""
    folder = results.figures_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, metadata=PNG_METADATA)
    fig.savefig(folder / f"{name}.pdf", metadata=PDF_METADATA)
    return png


def plain_log_axis(axis, subs=(1.0, 2.0, 5.0)):
    """A log axis labelled with plain numbers (``1, 2, 5, 10, 20, 50``; with ``subs=(1.0,)`` decades only, for
    wide ranges), never ``6x10^1``."""
    axis.set_major_locator(mticker.LogLocator(subs=subs))
    axis.set_major_formatter(mticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(mticker.NullFormatter())


def integer_axis(axis):
    """Ticks at whole numbers only (epochs, bits, layers)."""
    axis.set_major_locator(mticker.MaxNLocator(integer=True))


def legend_beside(ax, **kwargs):
    """The legend to the right of ``ax``, off the data (the saved figure's tight box takes it in)."""
    kwargs.setdefault("fontsize", 8)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), **kwargs)


def error_and_confidence_vs_eps(curves, *, paper=None, title=""):
    """Two panels, error and mean confidence against eps, one line per model; ``paper``: ``{label: (eps, error,
    confidence)}``, the paper's values marked as stars of the model's color (None where it reports none).

    ``curves``: ``{label: {"eps": [...], "error": [...], "confidence": [...]}}``.
    """
    fig, (ax_err, ax_conf) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (label, curve), color in zip(curves.items(), sns.color_palette()):
        ax_err.plot(curve["eps"], np.multiply(curve["error"], 100), marker="o", color=color, label=label)
        ax_conf.plot(curve["eps"], np.multiply(curve["confidence"], 100), marker="o", color=color, label=label)
        eps, error, confidence = (paper or {}).get(label, (None, None, None))
        for ax, value in ((ax_err, error), (ax_conf, confidence)):
            if value is not None:
                ax.plot(eps, 100 * value, "*", markersize=13, color=color, markeredgecolor="black",
                        label=f"{label}: the paper's value")
    ax_err.set(xlabel="eps", ylabel="test error (%)", ylim=(-2, 102), title="error under FGSM")
    ax_conf.set(xlabel="eps", ylabel="mean confidence (%)", ylim=(-2, 102), title="confidence under FGSM")
    entries = {}  # each label once, from both panels
    for ax in (ax_err, ax_conf):
        entries.update({label: handle for handle, label in zip(*ax.get_legend_handles_labels())})
    legend_beside(ax_conf, handles=list(entries.values()), labels=list(entries))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _show(ax, image, title, cmap="gray", symmetric=False):
    image = np.asarray(image).squeeze()
    if symmetric:  # weights: zero is white, so positive and negative read as two colors
        bound = np.abs(image).max() or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-bound, vmax=bound)
    else:
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


RIGHT, WRONG = "#1a7f37", "#cf222e"  # the captions of right and wrong predictions (green, red)


def _predictions_row(axes, model, images, shown, class_names, labels, row_label):
    """Each image of a row with the model's prediction above it: the full class name and its probability, green with
    a check mark when it is the true label, red with a cross when not (no marks without ``labels``); ``row_label``
    stands upright at the row's left."""
    confidence, predicted = evaluation.predict_proba(model, images).max(1)
    for i, ax in enumerate(axes):
        right = labels is None or int(predicted[i]) == int(labels[i])
        mark = "" if labels is None else (" ✓" if right else " ✗")
        _show(ax, shown[i], f"{class_names[int(predicted[i])]}{mark}\n{confidence[i]:.0%}")
        if labels is not None:
            ax.title.set_color(RIGHT if right else WRONG)
    axes[0].text(-0.08, 0.5, row_label, rotation=90, ha="right", va="center", fontsize=9, transform=axes[0].transAxes)


def attack_examples(model, clean, adversarial, class_names, *, labels=None, title="", show=None):
    """Two rows of images: clean examples above, their adversarial versions below, each captioned with the
    model's prediction and its probability, marked right or wrong against ``labels``. ``show`` maps a batch of
    inputs to displayable images (e.g. undoing a preprocessing); by default the inputs are shown as they are."""
    show = show or (lambda images: images)
    n = len(clean)
    fig, axes = plt.subplots(2, n, figsize=(1.35 * n, 4.3), squeeze=False, layout="constrained")
    for row, (images, row_label) in enumerate(((clean, "clean"), (adversarial, "adversarial"))):
        _predictions_row(axes[row], model, images, show(images.cpu()), class_names, labels, row_label)
    fig.suptitle(title)
    return fig


def linear_weights_figure(model, clean, adversarial, class_names, *, labels=None, title=""):
    """The FGSM paper's Figure 2 for a model with one linear layer on 28 x 28 images (``model.linear``):
    (a) the weights, (b) their sign, (c) clean and (d) adversarial examples with the model's predictions (marked
    right or wrong against ``labels``)."""
    weights = model.linear.weight.detach().cpu().reshape(28, 28)
    n = len(clean)
    fig = plt.figure(figsize=(2.2 + 1.2 * n, 4.8), layout="constrained")
    grid = fig.add_gridspec(2, n + 2, width_ratios=[2, 2] + [1] * n)
    _show(fig.add_subplot(grid[:, 0]), weights, "(a) weights w", symmetric=True)
    _show(fig.add_subplot(grid[:, 1]), np.sign(weights), "(b) sign(w)", symmetric=True)
    for row, (images, row_label) in enumerate(((clean, "(c) clean"), (adversarial, "(d) adversarial"))):
        axes = [fig.add_subplot(grid[row, 2 + i]) for i in range(n)]
        _predictions_row(axes, model, images, images.cpu(), class_names, labels, row_label)
    fig.suptitle(title)
    return fig


def regularization_sweep(tables, xlabels, *, symlog=None, title=""):
    """One panel per regularizer (clean and FGSM test error against its strength), then a trade-off
    panel (FGSM error against clean error, every trained model a point) where the methods meet.

    ``tables``: ``{method: DataFrame indexed by strength with columns clean_error and adv_error}``;
    ``xlabels``: ``{method: axis label}``; ``symlog``: ``{method: linear threshold}`` for a symlog strength axis.
    """
    fig, axes = plt.subplots(1, len(tables) + 1, figsize=(4.6 * (len(tables) + 1), 4.4), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    for ax, (method, table) in zip(axes, tables.items()):
        ax.plot(table.index, np.multiply(table["clean_error"], 100), marker="o", label="clean error")
        ax.plot(table.index, np.multiply(table["adv_error"], 100), marker="s", label="FGSM error")
        if method in (symlog or {}):
            ax.set_xscale("symlog", linthresh=symlog[method])
        ax.set(xlabel=xlabels[method], ylabel="test error (%)", title=method, ylim=(-2, 102))
        axes[-1].plot(np.multiply(table["clean_error"], 100), np.multiply(table["adv_error"], 100),
                      marker="o", label=method)
    axes[-1].set(xlabel="clean test error (%)", ylabel="FGSM test error (%)", title="trade-off", ylim=(-2, 102))
    # legends below the panels, never over the curves: one for the error kinds, one for the methods
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower left", ncol=2)
    fig.legend(*axes[-1].get_legend_handles_labels(), loc="outside lower right", ncol=len(tables))
    fig.suptitle(title)
    return fig


def outputs_along_direction(eps_values, outputs, true_class, class_names, *, strip=None, title=""):
    """The FGSM paper's Figure 4: each class's softmax argument against eps along the FGSM direction, the true class
    drawn last, in black, over the others; the eps where the true class wins are shaded. ``strip``: ``(eps, images)``,
    the inputs at a few eps, shown in a row below the plot (each scaled to its own range: beyond eps = 1 the pixels
    leave [0, 1])."""
    eps_values, outputs = np.asarray(eps_values), np.asarray(outputs)
    fig = plt.figure(figsize=(8.5, 6.4 if strip is not None else 4.4), layout="constrained")
    plot, below = fig.subfigures(2, 1, height_ratios=[3, 1.1]) if strip is not None else (fig, None)
    ax = plot.subplots()
    palette = sns.color_palette("tab10", outputs.shape[1])
    for c in [c for c in range(outputs.shape[1]) if c != true_class] + [true_class]:
        true = c == true_class
        ax.plot(eps_values, outputs[:, c], color="black" if true else palette[c], lw=2.8 if true else 1.2,
                zorder=5 if true else 2, label=f"{class_names[c]}" + (" (true class)" if true else ""))
    right = outputs.argmax(1) == true_class
    ax.fill_between(eps_values, 0, 1, where=right, color="gray", alpha=0.2, transform=ax.get_xaxis_transform(),
                    label="true class wins")
    ax.set(xlabel="eps along sign(grad_x J)", ylabel="argument to the softmax", title=title)
    legend_beside(ax)
    if strip is not None:
        strip_eps, images = strip
        for image_ax, e, image in zip(below.subplots(1, len(strip_eps)), strip_eps, images):
            image = np.asarray(image.detach().cpu()).squeeze()
            image_ax.imshow(image, cmap="gray", vmin=image.min(), vmax=image.max())
            image_ax.set_title(f"eps = {e:g}", fontsize=9)
            image_ax.axis("off")
        below.suptitle("the input along the direction", fontsize=10)
    return fig


def filter_grids(weights, *, units=10, pieces=5, side=28, title=""):
    """First-layer maxout filters side by side (the FGSM paper's Figure 3): for each model, ``units``
    units as rows and their ``pieces`` pieces as columns; each filter scaled to its own range, zero gray.

    ``weights``: ``{label: tensor (units * pieces) x (side * side)}`` with a unit's pieces adjacent.
    """
    fig, axes = plt.subplots(1, len(weights), figsize=(3.2 * len(weights), 3.2 * units / pieces + 0.6),
                             squeeze=False)
    for ax, (label, w) in zip(axes[0], weights.items()):
        w = np.asarray(w)[: units * pieces].reshape(units, pieces, side, side)
        bound = np.abs(w).max(axis=(2, 3), keepdims=True) + 1e-12
        tiles = (w / bound).transpose(0, 2, 1, 3).reshape(units * side, pieces * side)
        ax.imshow(tiles, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def grouped_bars(table, *, ylabel, title="", percent=True, logy=False, missing=None):
    """A seaborn bar chart of a wide table: one group of bars per row (on the x axis), one bar per column (the
    legend, beside the axes); missing values (NaN) draw no bar, and with ``missing`` (e.g. "not reported") that text
    stands in the empty slot, so that a value nobody gave is not read as a zero. With three or more bars per group
    the value labels stand upright, since side by side they would run into each other."""
    long = table.rename_axis(index="row", columns="column").reset_index().melt(
        id_vars="row", var_name="column", value_name="value").dropna()
    if percent:
        long["value"] = long["value"] * 100
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(table) + 2), 4))
    columns = list(table.columns)
    sns.barplot(data=long, x="row", y="value", hue="column", hue_order=columns, order=list(table.index), ax=ax)
    upright = len(columns) > 2
    for container in ax.containers:
        ax.bar_label(container, fmt="%.1f" if percent else "%.3g", fontsize=7, padding=2, rotation=90 if upright else 0)
    if upright and not logy:
        ax.set_ylim(top=1.15 * ax.get_ylim()[1])  # room for the upright labels above the tallest bar
    if missing:
        width = 0.8 / len(columns)  # seaborn's dodge: the group spans 0.8, one slot per column in hue order
        for i, row in enumerate(table.index):
            for j, column in enumerate(columns):
                if np.isnan(table.at[row, column]):
                    ax.text(i - 0.4 + (j + 0.5) * width, 0, missing, rotation=90, ha="center", va="bottom",
                            fontsize=6.5, color="0.35", transform=ax.get_xaxis_transform())
    ax.set(xlabel="", ylabel=ylabel, title=title, yscale="log" if logy else "linear")
    if logy:
        plain_log_axis(ax.yaxis)
    legend_beside(ax, title=None)
    ax.tick_params(axis="x", labelrotation=15)
    fig.tight_layout()
    return fig


def ratio_panels(table, *, highlight=None, claims=None, title=""):
    """Ratios against a reference (e.g. compression and energy saving of each mapping) as small multiples: one
    panel per column of ``table``, one horizontal bar per row, drawn from 1× (no change) to its value on a log
    axis, so that a saving points right and a cost points left; each bar is labelled ``1.62×``
    (:func:`quanos_lib.results.format_value`). Rows whose label starts with ``highlight`` get the second color;
    ``claims``: ``{column: ratio}``, the paper's claimed ratio, drawn as a dashed line in its panel."""
    columns = list(table.columns)
    ncols = min(2, len(columns))
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, (0.28 * len(table) + 1.2) * nrows), sharey=True,
                             squeeze=False)
    base, accent = sns.color_palette()[:2]
    colors = [accent if highlight and str(label).startswith(highlight) else base for label in table.index]
    rows = np.arange(len(table))
    values = table.to_numpy(dtype=float)
    low, high = values.min(), values.max()
    for ax, column, ratios in zip(axes.flat, columns, values.T):
        bars = ax.barh(rows, ratios - 1, left=1, color=colors)
        ax.bar_label(bars, labels=[results.format_value(v, "ratio") for v in ratios], fontsize=7, padding=2)
        ax.axvline(1, color="0.3", linewidth=0.8)
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis, subs=(1.0,))  # ratios span decades: 1, 2, 5 ticks would collide
        ax.set(xlim=(min(low, 1) / 4, max(high, 1) * 4), title=column, xlabel="ratio (1× = the reference)")
        ax.title.set_fontsize(10)
        if claims and column in claims:
            ax.axvline(claims[column], color="black", linestyle="--", linewidth=1)
            ax.text(claims[column], -0.7, f" paper: > {results.format_value(claims[column], 'ratio')}", fontsize=8,
                    va="bottom")
    axes[0][0].set(yticks=rows, yticklabels=[str(label) for label in table.index])
    axes[0][0].invert_yaxis()  # the table's order, top to bottom (the panels share this axis)
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_curves(histories, *, title=""):
    """Validation error (solid) and running training error (dashed) per epoch of the early-stopped phase,
    one color per model; the kept (best) epoch is marked. The legend names each model once (its color, and what its
    validation error is measured under) and the two line styles once, so it stays small beside the curves."""
    fig, ax = plt.subplots(figsize=(10, 4))
    entries = []
    for (label, history), color in zip(histories.items(), sns.color_palette(n_colors=max(10, len(histories)))):
        epochs = np.arange(1, len(history["loss"]) + 1)
        config = history.get("config", {})
        under = (f" (validated under {config.get('val_adv_kind', 'fgsm').upper()} at {eps_text(config['val_adv_eps'])})"
                 if config.get("val_adv_eps") else "")
        if history["val_error"]:
            ax.plot(epochs, np.multiply(history["val_error"], 100), color=color)
            best = history["best_epoch"]
            ax.plot(best + 1, 100 * history["val_error"][best], "o", color=color)
        ax.plot(epochs, np.multiply(history["train_error"], 100), "--", color=color)
        entries.append((matplotlib.lines.Line2D([], [], color=color), label + under))
    entries += [(matplotlib.lines.Line2D([], [], color="0.3"), "validation error (dot: the kept epoch)"),
                (matplotlib.lines.Line2D([], [], color="0.3", linestyle="--"), "training error (running, training mode)")]
    ax.set(xlabel="epoch", ylabel="error (%)", yscale="log", title=title)
    plain_log_axis(ax.yaxis)
    integer_axis(ax.xaxis)
    legend_beside(ax, handles=[handle for handle, _ in entries], labels=[text for _, text in entries], fontsize=8)
    fig.tight_layout()
    return fig


def _short(name):
    return name.removeprefix("features.")


def per_layer_lines(series, *, ylabel, title="", logy=False):
    """One line per series over the layers in network order: ``{label: {layer: value}}``."""
    fig, ax = plt.subplots(figsize=(10, 4))
    palette = sns.color_palette("viridis", len(series))
    for (label, values), color in zip(series.items(), palette):
        ax.plot([_short(k) for k in values], list(values.values()), marker="o", color=color, label=label)
    ax.set(ylabel=ylabel, title=title, yscale="log" if logy else "linear")
    if logy:
        plain_log_axis(ax.yaxis)
    if all(isinstance(value, int) for values in series.values() for value in values.values()):
        integer_axis(ax.yaxis)  # bits
    ax.tick_params(axis="x", labelrotation=60)
    legend_beside(ax)
    fig.tight_layout()
    return fig


def ans_and_bits(ans, bits, *, title=""):
    """QUANOS at a glance: ANS per layer (left) and the bit width it assigns (right), in layer order."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4))
    names = [_short(k) for k in ans]
    sns.barplot(x=names, y=list(ans.values()), ax=left, color=sns.color_palette()[0])
    left.set(ylabel="ANS", title="adversarial noise sensitivity")
    sns.barplot(x=names, y=[bits[k] for k in ans], ax=right, color=sns.color_palette()[1])
    right.bar_label(right.containers[0], fontsize=7)
    right.set(ylabel="bits", title="QUANOS bit width k = 16 - round(16 ANS)", ylim=(0, 17))
    integer_axis(right.yaxis)
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=60)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# Q2's removal curves: one color per order, one line style per treatment of the pruned network.
_ORDER_COLORS = {"highest ANS first": 0, "lowest ANS first": 1, "random": 7}
_TREATMENTS = {"as trained": (":", "as pruned (no re-estimation)"), "": ("--", "batch norm re-estimated"),
               "fine-tuned": ("-", "batch norm re-estimated, then fine-tuned")}


def removal_curves(curves, *, chance=None, title=""):
    """Clean and adversarial accuracy against the number of layers removed: one color per removal order (every
    random order the same grey), one line style per treatment (``"<order>, as trained"``, ``"<order>"``,
    ``"<order>, fine-tuned"``), and the chance line, where a network that answers one class for everything sits.

    ``curves``: ``{order: {"removed": [...], "clean": [...], "adversarial": [...]}}`` (accuracies in [0, 1]).
    """
    palette = sns.color_palette(n_colors=10)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True, sharey=True)
    for label, curve in curves.items():
        order, _, treatment = label.partition(", ")
        family = "random" if order.startswith("random") else order
        style = _TREATMENTS[treatment][0]
        for ax, key in zip(axes, ("clean", "adversarial")):
            ax.plot(curve["removed"], np.multiply(curve[key], 100), style, marker="o", markersize=3,
                    color=palette[_ORDER_COLORS.get(family, 3)], alpha=0.6 if family == "random" else 1.0)
    for ax in axes:
        if chance is not None:
            ax.axhline(100 * chance, color="black", linewidth=0.8, linestyle=":")
    axes[0].set(xlabel="layers removed", ylabel="accuracy (%)", title="clean")
    axes[1].set(xlabel="layers removed", title="under FGSM")
    integer_axis(axes[0].xaxis)
    orders = dict.fromkeys("random orders" if o.startswith("random") else o
                           for o in (label.partition(", ")[0] for label in curves))
    handles = [matplotlib.lines.Line2D([], [], color=palette[_ORDER_COLORS.get(o.removesuffix(" orders"), 3)],
                                       label=o) for o in orders]
    treatments = dict.fromkeys(label.partition(", ")[2] for label in curves)
    handles += [matplotlib.lines.Line2D([], [], color="0.3", linestyle=_TREATMENTS[t][0], label=_TREATMENTS[t][1])
                for t in treatments]
    if chance is not None:
        handles.append(matplotlib.lines.Line2D([], [], color="black", linestyle=":", linewidth=0.8,
                                               label="chance (one class for everything)"))
    legend_beside(axes[1], handles=handles, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_eps(curves, *, chance=None, title=""):
    """Accuracy against eps as small multiples: one panel per model, from ``{"<model>, <attack>": {eps: accuracy}}``;
    in each, white-box PGD solid, transfer dashed, FGSM dotted, and the chance line; one legend beside the panels.
    Panels share their axes, so models compare across them. Eps that are whole 8-bit steps (CIFAR) read as k/255."""
    by_model = {}
    for label, curve in curves.items():
        model, _, attack = label.partition(", ")
        by_model.setdefault(model, {})[attack] = curve
    columns = min(3, len(by_model))
    rows = -(-len(by_model) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), sharex=True, sharey=True,
                             squeeze=False)
    every_eps = sorted({eps for curve in curves.values() for eps in curve})
    # CIFAR's eps are whole 8-bit steps, read as k/255 on a symlog axis; MNIST's (0.1, 0.25, ...) as they are
    steps = all(whole_8bit_steps(e) for e in every_eps)
    scale, unit = (255, "eps (x 1/255)") if steps else (1, "eps")
    ticks = [scale * e for e in every_eps]
    palette = dict(zip(["PGD", "transfer", "FGSM"], sns.color_palette()))
    legend = {}
    for ax, (model, attacks_of_model) in zip(axes.flat, by_model.items()):
        for attack, curve in attacks_of_model.items():
            kind = "transfer" if attack.startswith("transfer") else "PGD" if "PGD" in attack else "FGSM"
            eps = sorted(curve)
            ax.plot(np.multiply(eps, scale), [100 * curve[e] for e in eps], {"PGD": "-", "transfer": "--", "FGSM": ":"}[kind],
                    marker="o", markersize=4, color=palette[kind], label=attack)
        if chance is not None:
            ax.axhline(100 * chance, color="gray", linewidth=0.8, linestyle=":", label="chance")
        if steps:
            ax.set_xscale("symlog", linthresh=1)  # 0 and the small eps stay visible beside the large ones
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], rotation=0 if steps else 45)
        ax.set(xlim=(0, 1.1 * ticks[-1]), ylim=(0, 100), title=model)
        ax.title.set_fontsize(10)
        ax.xaxis.set_tick_params(labelbottom=True)  # on every panel, also above an empty one
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles))  # each label once, across the panels
    fig.legend(legend.values(), legend.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9))  # off the data
    for ax in axes.flat[len(by_model):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(unit)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def paired_robustness(curves_by_seed, pairs, *, attack, claims=None, chance=None, title=""):
    """Each claim's two models on one axis, and their difference: one column per claim of ``pairs``
    (``{claim: (ours, baseline)}``). Top: the accuracy of both under ``attack`` against eps, the mean over the seeds
    (thin lines: each seed); bottom: ours minus the baseline, the mean with its 95% interval over the seeds
    (:func:`quanos_lib.results.over_seeds`), the zero line, and the paper's claimed gain (``claims``, dashed).
    ``curves_by_seed``: ``{seed: {label: {attack: {eps: accuracy}}}}``."""
    seeds = list(curves_by_seed)
    eps = sorted(next(iter(curves_by_seed.values()))[pairs[next(iter(pairs))][0]][attack])
    scale = 255 if all(whole_8bit_steps(e) for e in eps) else 1
    x = np.multiply(eps, scale)
    fig, axes = plt.subplots(2, len(pairs), figsize=(4.4 * len(pairs), 6.2), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    ours_color, base_color = sns.color_palette()[1], sns.color_palette()[0]
    for column, (claim, (ours, baseline)) in enumerate(pairs.items()):
        top, bottom = axes[0][column], axes[1][column]
        for label, color in ((ours, ours_color), (baseline, base_color)):
            per_seed = np.array([[100 * curves_by_seed[s][label][attack][e] for e in eps] for s in seeds])
            for row in per_seed:
                top.plot(x, row, color=color, linewidth=0.6, alpha=0.4)
            top.plot(x, per_seed.mean(0), color=color, marker="o", markersize=4, label=label)
        if chance is not None:
            top.axhline(100 * chance, color="gray", linewidth=0.8, linestyle=":", label="chance")
        top.set(ylim=(0, 100), title=claim)
        top.legend(fontsize=7, loc="upper right")
        gains = [results.over_seeds([curves_by_seed[s][ours][attack][e] - curves_by_seed[s][baseline][attack][e]
                                     for s in seeds]) for e in eps]
        mean = [100 * g["value"] for g in gains]
        bottom.fill_between(x, [100 * g["interval"][0] for g in gains], [100 * g["interval"][1] for g in gains],
                            color=ours_color, alpha=0.25, linewidth=0)
        bottom.plot(x, mean, color=ours_color, marker="o", markersize=4)
        bottom.axhline(0, color="black", linewidth=0.8)
        if claims and claim in claims:
            bottom.axhline(100 * claims[claim], color="black", linestyle="--", linewidth=1)
            bottom.text(x[-1], 100 * claims[claim], f"paper: {results.format_value(claims[claim], 'points')} ",
                        ha="right", va="bottom", fontsize=8)
        bottom.set(xlabel="eps (x 1/255)" if scale == 255 else "eps")
        if scale == 255:
            bottom.set_xscale("symlog", linthresh=1)
            bottom.set_xticks(x, [f"{t:g}" for t in x])
    axes[0][0].set_ylabel(f"accuracy under {attack} (%)")
    axes[1][0].set_ylabel("ours minus baseline (points)\nmean and 95% interval")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _unoverlap(ax, labels):
    """Move each label of a line (in order along it) that runs into the one before it from above right of its
    point to below left, where the line, coming from the left and above, leaves room."""
    renderer = ax.figure.canvas.get_renderer()  # after the figure's final layout: the extents drawn
    for before, label in zip(labels, labels[1:]):
        if label.get_window_extent(renderer).overlaps(before.get_window_extent(renderer)):
            label.set(position=(-4, -4), horizontalalignment="right", verticalalignment="top")


def robustness_front(table, *, robustness, family, costs=("size (kbit)", "energy (µJ)"), interval=None, title=""):
    """QUANOS's claim as one picture: each model's robustness against each cost, one panel per cost.

    ``table``: one row per model (its label), with the cost columns (e.g. from
    :func:`quanos_lib.energy.cost_table`), a ``robustness`` column and a ``family`` column ("homogeneous" rows
    are joined into a line in order of cost, the front a hybrid model should lie above, and labelled along it;
    every other model is a point with a marker of its own, named in the legend beside the panels, since long
    labels next to the points would run into each other); ``interval``: optional ``(low column, high column)``
    drawn as error bars."""
    fig, axes = plt.subplots(1, len(costs), figsize=(5.5 * len(costs), 4.2), squeeze=False)
    families = list(dict.fromkeys(table[family]))
    colors = dict(zip(families, sns.color_palette()))
    points = [label for label in table.index if table.at[label, family] != "homogeneous"]
    markers = dict(zip(points, itertools.cycle("osD^vPX*hp<>")))

    def errors(rows):  # the interval's distances from the point, in percent
        if interval is None:
            return None
        return 100 * np.abs(rows[list(interval)].to_numpy().T - rows[robustness].to_numpy())

    front_labels = {}
    for ax, cost in zip(axes[0], costs):
        front = table[table[family] == "homogeneous"].sort_values(cost)
        if len(front):
            ax.errorbar(front[cost], 100 * front[robustness], yerr=errors(front), fmt="-o", color=colors["homogeneous"],
                        capsize=3, label="homogeneous")
            front_labels[ax] = [ax.annotate(str(label), (row[cost], 100 * row[robustness]), xytext=(4, 4),
                                            textcoords="offset points", fontsize=7) for label, row in front.iterrows()]
        for label in points:
            row = table.loc[[label]]
            ax.errorbar(row[cost], 100 * row[robustness], yerr=errors(row), fmt=markers[label], markersize=7,
                        color=colors[table.at[label, family]], capsize=3, label=str(label))
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ax.set(xlabel=f"{cost} (log scale)", ylabel=f"{robustness} (%)")
    legend_beside(axes[0][-1])
    fig.suptitle(title)
    fig.tight_layout()
    for ax, labels in front_labels.items():
        _unoverlap(ax, labels)
    return fig


def panda_figure(panels, class_names, *, paper=None, title=""):
    """The FGSM paper's Figure 1 from :func:`quanos_lib.imagenet.figure1`: the image with the model's label and
    confidence, the sign of the gradient (grey 0, white +1, black -1) and the adversarial image with its label and
    confidence. ``paper``: the paper's captions, shown under ours."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 4))
    clean = f"{class_names[panels['clean_class']]}\n{results.format_value(panels['clean_confidence'])} confidence"
    adversarial = f"{class_names[panels['adv_class']]}\n{results.format_value(panels['adv_confidence'])} confidence"
    for ax, image, caption in ((axes[0], panels["image"], f"x\n{clean}"),
                               (axes[1], (panels["sign"] + 1) / 2, "sign(∇x J(θ, x, y))\n"),
                               (axes[2], panels["adversarial"], f"x + ε sign(∇x J(θ, x, y))\n{adversarial}")):
        ax.imshow(np.asarray(image.permute(1, 2, 0)).clip(0, 1))
        ax.set_title(caption, fontsize=10)
        ax.axis("off")
    if paper:
        fig.text(0.5, 0.02, f"the paper (GoogLeNet, its ImageNet image): {paper}", ha="center", fontsize=9,
                 color="dimgray")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05 if paper else 0, 1, 1), w_pad=6)
    boxes = [ax.get_position() for ax in axes]
    for left, right, sign in ((boxes[0], boxes[1], f"+ {panels['eps'] * 255:g}/255 ×"), (boxes[1], boxes[2], "=")):
        fig.text((left.x1 + right.x0) / 2, (left.y0 + left.y1) / 2, sign, ha="center", va="center", fontsize=11)
    return fig


def confidence_vs_eps(curve, class_names, *, true_class, marked_eps=None, title=""):
    """From :func:`quanos_lib.imagenet.confidence_vs_eps`: the true class's probability and the top class's
    confidence against FGSM's eps (in 8-bit steps, 1/255), each point labelled with the top class where it changes;
    ``marked_eps``: a vertical line (the paper's eps)."""
    eps = np.multiply(curve["eps"], 255)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.plot(eps, np.multiply(curve["true_confidence"], 100), marker="o", label=f"p({class_names[true_class]})")
    ax.plot(eps, np.multiply(curve["top_confidence"], 100), marker="s", linestyle="--", label="top class's confidence")
    previous, shown = None, 0
    for x, top, confidence in zip(eps, curve["top_class"], curve["top_confidence"]):
        if top != previous:  # name the top class where it changes, staggered so that neighbours never collide
            ax.annotate(class_names[top], (x, 100 * confidence), textcoords="offset points", fontsize=8,
                        xytext=(4, 8 + 12 * (shown % 3)), arrowprops={"arrowstyle": "-", "color": "gray", "lw": 0.5})
            previous, shown = top, shown + 1
    if marked_eps is not None:
        ax.axvline(255 * marked_eps, color="gray", linestyle=":", label="the paper's eps (one 8-bit step)")
    ax.set_xscale("symlog", linthresh=0.25)  # the sub-step eps stay apart from 0
    ticks = [t for t in eps if t == 0 or np.log2(t) == round(np.log2(t))]  # 0 and the powers of two
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(0, eps.max() * 1.1)
    ax.set(xlabel="FGSM eps (x 1/255)", ylabel="probability (%)", ylim=(0, 105), title=title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig
