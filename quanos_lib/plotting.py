"""One look for every figure, and saving that gives byte-identical files on a rerun.

``save_figure(fig, name, profile)`` writes ``figures/<name>.png`` and ``.pdf`` (for ``smoke``, into
the scratch folder: see :func:`quanos_lib.results.output_root`). Dates, software versions and other
varying metadata are left out of both files, so regenerating a figure from the same numbers does not
change it in git.
"""
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from . import results

PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}


def set_theme():
    """The companion's single theme (seaborn, white grid, readable fonts, fixed DPI)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight", "pdf.fonttype": 42,
                      "svg.hashsalt": "quanos", "image.interpolation": "nearest"})


def save_figure(fig, name, profile):
    """Write ``<figures>/<name>.png`` and ``.pdf`` deterministically; returns the PNG path."""
    folder = results.figures_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, metadata=PNG_METADATA)
    fig.savefig(folder / f"{name}.pdf", metadata=PDF_METADATA)
    return png


def error_and_confidence_vs_eps(curves, *, title=""):
    """Two panels, error and mean confidence against eps, one line per model.

    ``curves``: ``{label: {"eps": [...], "error": [...], "confidence": [...]}}``.
    """
    fig, (ax_err, ax_conf) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, curve in curves.items():
        ax_err.plot(curve["eps"], np.multiply(curve["error"], 100), marker="o", label=label)
        ax_conf.plot(curve["eps"], np.multiply(curve["confidence"], 100), marker="o", label=label)
    ax_err.set(xlabel="eps", ylabel="test error (%)", ylim=(-2, 102), title="error under FGSM")
    ax_conf.set(xlabel="eps", ylabel="mean confidence (%)", ylim=(-2, 102), title="confidence under FGSM")
    ax_err.legend()
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


def clean_vs_adversarial(clean, adversarial, clean_titles, adversarial_titles, *, title=""):
    """Two rows of images: clean examples above, their adversarial versions below, each with a caption."""
    n = len(clean)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.2), squeeze=False)
    for i in range(n):
        _show(axes[0, i], clean[i], clean_titles[i])
        _show(axes[1, i], adversarial[i], adversarial_titles[i])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def linear_weights_figure(weights, clean, adversarial, clean_titles, adversarial_titles, *, title=""):
    """The FGSM paper's Figure 2: (a) the weights, (b) their sign, (c) clean and (d) adversarial examples."""
    n = len(clean)
    fig = plt.figure(figsize=(2.2 + 1.1 * n, 4.2))
    grid = fig.add_gridspec(2, n + 2, width_ratios=[2, 2] + [1] * n)
    _show(fig.add_subplot(grid[:, 0]), weights, "(a) weights w", symmetric=True)
    _show(fig.add_subplot(grid[:, 1]), np.sign(weights), "(b) sign(w)", symmetric=True)
    for i in range(n):
        _show(fig.add_subplot(grid[0, 2 + i]), clean[i], ("(c) clean\n" if i == 0 else "\n") + clean_titles[i])
        _show(fig.add_subplot(grid[1, 2 + i]), adversarial[i],
              ("(d) adversarial\n" if i == 0 else "\n") + adversarial_titles[i])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def regularization_sweep(sweeps, *, title=""):
    """One panel per regularizer (clean and FGSM test error against its strength), then a trade-off
    panel (FGSM error against clean error, every trained model a point) where the methods meet.

    ``sweeps``: ``{method: {"x": [...], "xlabel": str, "clean_error": [...], "adv_error": [...],
    "xscale": "linear" or "symlog", "linthresh": float (for symlog)}}``.
    """
    fig, axes = plt.subplots(1, len(sweeps) + 1, figsize=(4.6 * (len(sweeps) + 1), 3.8), squeeze=False)
    axes = axes[0]
    for ax, (method, sweep) in zip(axes, sweeps.items()):
        ax.plot(sweep["x"], np.multiply(sweep["clean_error"], 100), marker="o", label="clean error")
        ax.plot(sweep["x"], np.multiply(sweep["adv_error"], 100), marker="s", label="FGSM error")
        if sweep.get("xscale") == "symlog":
            ax.set_xscale("symlog", linthresh=sweep["linthresh"])
        ax.set(xlabel=sweep["xlabel"], ylabel="test error (%)", title=method, ylim=(-2, 102))
        ax.legend()
        axes[-1].plot(np.multiply(sweep["clean_error"], 100), np.multiply(sweep["adv_error"], 100),
                      marker="o", label=method)
    axes[-1].set(xlabel="clean test error (%)", ylabel="FGSM test error (%)", title="trade-off", ylim=(-2, 102))
    axes[-1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def prediction_captions(probs, class_names):
    """``"7 (98%)"`` for each row of probabilities: the predicted class and its probability."""
    confidence, predicted = probs.max(1)
    return [f"{class_names[int(c)]} ({p:.0%})" for c, p in zip(predicted, confidence.tolist())]
