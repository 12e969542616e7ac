"""The trained models the notebooks share, each defined once: recipe + architecture -> cached model.

Every function returns ``(model, history)`` through :func:`quanos_lib.training.trained_model`, so a
model asked for by two notebooks (the naive maxout of notebooks 02, 03 and 04, say) is trained once
and read from the checkpoint cache afterwards. The recipes:

- every MNIST model validates on the last sixth of its training images (:func:`train_and_validation`: MNIST's
  last 10k of 60k, the maxout paper's split) and keeps the epoch of lowest validation error, stopping after
  ``patience`` epochs without improvement or at the epoch cap, whichever comes first (a rule, never an epoch
  count picked to match the paper); a model trained on an adversarial objective may validate on its FGSM error
  instead (``val_adv_eps``, the paper's rule for F8; notebook 01's adversarial sweep does, since on the clean
  error it would stop in its first epochs, before it becomes robust);
- linear models (notebook 01 and the baselines of 02/04): SGD, batch 100, learning rate 0.1,
  momentum 0.5, no weight decay (the paper does not say how its linear models were trained), early stopping
  with the linear scale's ``patience`` and epoch cap ``epochs``;
- maxout (the maxout paper's permutation-invariant MNIST configuration, which the FGSM paper reuses):
  batch 100, learning rate 0.1 decayed as 0.1 / 1.000004^t (floor 1e-6), momentum 0.5 rising
  linearly to 0.7 by epoch 250, max column norm 1.9365; early stopping on the last 10k training
  images (patience ``scale["patience"]``), then continued training on all 60k until the training loss reaches
  the best validation loss. The profile caps the epochs of both phases (``scale["epochs"]``,
  ``scale["continue_epochs"]``). The adversarial and noise objectives perturb with the FGSM paper's unclipped
  ``x + eps * sign(grad)`` (:data:`quanos_lib.paper.FGSM_CLIP`);
- the RBF network: SGD, batch 100, learning rate 1.0 (its precisions scale the gradients down),
  momentum 0.5, early stopping with ``scale["rbf_patience"]``, at most ``scale["rbf_epochs"]`` epochs;
- conv maxout on CIFAR-10 (the maxout paper's configuration): batch 128, learning rate 0.17 (x0.05 on
  the conv layers) falling linearly to 1% of it by epoch ``scale["lr_decay_epochs"]`` (500 in the paper),
  momentum 0.5 -> 0.65 by epoch ``scale["momentum_epochs"]`` (250), max norms 0.9 / 1.9365, random
  crops of the 8-pixel zero-padded image and horizontal flips, ``scale["epochs"]`` epochs (about 474).
  Short runs (``scale["paper_init"]`` false) keep PyTorch's default initialization, ``scale["conv_lr_scale"]``
  = 1 and ``scale["lr"]`` = 0.05: measured at `cpu`, the paper's tiny initialization and slow conv layers
  left a narrow network at chance level for 15 epochs, and 0.17 for every layer diverged after one epoch;
- VGG-19 on CIFAR-10 (QUANOS's "partially trained" model; the paper gives no recipe, these are the usual
  CIFAR ones): batch 128, learning rate 0.05 falling linearly to 1% of it over the run, momentum 0.9,
  weight decay 5e-4, random crops of the 4-pixel zero-padded image and horizontal flips,
  ``scale["epochs"]`` epochs from random initialization (20-30 in the paper), snapshots kept for ANS;
- QUANOS's step 4 (:func:`quanos_lib.quanos.quanos`) and every baseline of notebook 07 (the paper gives no
  recipe): the partially trained VGG-19, fake-quantized to a bit mapping (or left in float), trained on with
  the same recipe at a learning rate of 0.01 falling linearly to 1% of it, for ``scale["quanos_epochs"]``
  epochs: every model of the comparison gets the same budget after the shared checkpoint. The adversarially
  trained ones use the FGSM paper's objective with its alpha (0.5) at the attack's eps (``scale["eps"]``);
- the black-box attacker's substitute: a VGG-19 of the same width trained separately (seed + 1) with
  the VGG-19 recipe for ``scale["substitute_epochs"]`` epochs.
"""
import functools

from . import models, quanos, training
from .paper import ADV_ALPHA, FGSM_CLIP, FGSM_EPS_MNIST

LINEAR_RECIPE = {"batch_size": 100, "lr": 0.1, "momentum": 0.5}
MAXOUT_RECIPE = {"batch_size": 100, "lr": 0.1, "lr_decay": 1.000004, "lr_min": 1e-6, "momentum": 0.5,
                 "momentum_final": 0.7, "momentum_epochs": 250, "max_col_norm": 1.9365}
RBF_RECIPE = {"batch_size": 100, "lr": 1.0, "momentum": 0.5}
VGG_RECIPE = {"batch_size": 128, "lr": 0.05, "lr_linear_final": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
              "augment_padding": 4, "augment_flip": True}
FINETUNE_RECIPE = {**VGG_RECIPE, "lr": 0.01}
CONV_MAXOUT_RECIPE = {"batch_size": 128, "lr": 0.17, "lr_linear_final": 0.01, "momentum": 0.5, "momentum_final": 0.65,
                      "max_col_norm": 1.9365, "augment_padding": 8, "augment_flip": True}

# The FGSM paper's objectives: adversarial training (its alpha and eps, unclipped) and the noise controls of F12,
# which keep the clean half of the objective and replace the FGSM point by random noise of the same size.
_PAPER_OBJECTIVE = {"adv_alpha": ADV_ALPHA, "adv_eps": FGSM_EPS_MNIST, "adv_clip": FGSM_CLIP}
MAXOUT_VARIANTS = {
    "naive": {},
    "adversarial": _PAPER_OBJECTIVE,
    "sign_noise": {**_PAPER_OBJECTIVE, "adv_kind": "sign_noise"},
    "uniform_noise": {**_PAPER_OBJECTIVE, "adv_kind": "uniform_noise"},
}

VALIDATION_SHARE = 1 / 6  # MNIST's last 10k of its 60k training images: the maxout paper's validation split


def train_and_validation(split):
    """``(train, validation)``: the last :data:`VALIDATION_SHARE` of ``split`` validates (for MNIST, the last 10k
    images; for a class subset such as 3s vs 7s, about the same share)."""
    return split.holdout(round(len(split) * VALIDATION_SHARE))


def softmax_regression(mnist, scale, seed=0, *, epochs=None, **objective):
    """The shallow softmax of F1 (and the baseline of F2, F14, F17), early-stopped on the validation split by the
    linear ``scale`` (``patience``, cap ``epochs``); ``epochs`` instead trains exactly that many epochs on the same
    training images (no early stopping), and ``objective`` (e.g. ``weight_decay``) changes the linear recipe, to show
    how the training recipe, which the paper does not give, changes a number."""
    return _linear("softmax_regression", models.SoftmaxRegression, mnist.train, scale, seed, epochs, objective)


def logistic_regression(pair, scale, seed=0, *, epochs=None, **objective):
    """The binary logistic regression of F4/F5 on a two-class dataset, trained as :func:`softmax_regression`;
    ``objective`` adds e.g. ``adv_alpha``/``adv_eps``/``adv_clip`` or ``l1`` to the linear recipe."""
    return _linear("logistic_regression", models.LogisticRegression, pair.train, scale, seed, epochs, objective)


def _linear(name, build, split, scale, seed, epochs=None, objective=None):
    train, val = train_and_validation(split)
    stopping = {"epochs": scale["epochs"], "patience": scale["patience"]} if epochs is None else {"epochs": epochs}
    config = training.TrainConfig(seed=seed, **stopping, **LINEAR_RECIPE, **(objective or {}))
    return training.trained_model(name, build, train, config, val_split=val if epochs is None else None)


def maxout(mnist, scale, variant="naive", *, seed=0, l1=0.0, top="softmax", units=None, budget=None, epochs=None,
           continue_epochs=None, val_adv_eps=None):
    """A maxout network trained with one of :data:`MAXOUT_VARIANTS`, optionally with L1 weight decay on
    its first layer, a sigmoid top, another width, or early stopping on the validation set's FGSM error
    (``val_adv_eps``, as for F8). Its epoch caps are the scale's ``epochs`` / ``continue_epochs``, or with
    ``budget="short"`` (``"ensemble"``) its ``short_epochs`` / ``short_continue_epochs`` (``ensemble_...``);
    ``epochs`` / ``continue_epochs`` override them."""
    prefix = f"{budget}_" if budget else ""
    train, val = train_and_validation(mnist.train)
    config = training.TrainConfig(
        epochs=scale[f"{prefix}epochs"] if epochs is None else epochs, patience=scale["patience"],
        continue_epochs=scale[f"{prefix}continue_epochs"] if continue_epochs is None else continue_epochs,
        l1=l1, val_adv_eps=val_adv_eps, seed=seed, **MAXOUT_RECIPE, **MAXOUT_VARIANTS[variant])
    units = units or scale["units"]
    build = functools.partial(models.MaxoutMLP, units=units, top=top)
    return training.trained_model(f"maxout{units}_{variant}", build, train, config, val_split=val)


def maxout_ensemble(mnist, scale):
    """``scale["ensemble_size"]`` naive maxout networks differing only in their seed (0, 1, ...),
    trained with the ensemble's epoch caps, averaged by :class:`quanos_lib.models.Ensemble`.
    Returns ``(ensemble, [each member's history])``."""
    members = [maxout(mnist, scale, seed=seed, budget="ensemble") for seed in range(scale["ensemble_size"])]
    return models.Ensemble([model for model, _ in members]).eval(), [history for _, history in members]


def rbf_network(mnist, scale, seed=0):
    """The shallow RBF network of F13/F17, early-stopped on the validation split."""
    train, val = train_and_validation(mnist.train)
    config = training.TrainConfig(epochs=scale["rbf_epochs"], patience=scale["rbf_patience"], seed=seed, **RBF_RECIPE)
    return training.trained_model("rbf_network", models.RBFNetwork, train, config, val_split=val)


def conv_maxout(preprocessed, scale, seed=0):
    """The conv maxout network of F3/F18, ``scale["width"]`` times the paper's width, trained on the
    GCN + ZCA preprocessed CIFAR-10 training images (:mod:`quanos_lib.preprocessing`)."""
    config = training.TrainConfig(epochs=scale["epochs"], lr_linear_epochs=scale["lr_decay_epochs"],
                                  momentum_epochs=scale["momentum_epochs"], seed=seed,
                                  **{**CONV_MAXOUT_RECIPE, "lr": scale["lr"]})
    build = functools.partial(models.ConvMaxoutNet, width=scale["width"], conv_lr_scale=scale["conv_lr_scale"],
                              init_range=0.005 if scale["paper_init"] else None)
    return training.trained_model(f"conv_maxout_w{scale['width']:g}", build, preprocessed.train, config)


def vgg19(cifar, scale, seed=0):
    """QUANOS's partially trained VGG-19 (``scale["width"]`` times the usual width) on ``cifar``'s
    training images; ``history["snapshots"]`` holds its weights after ``scale["snapshot_epochs"]``.
    Notebook 07 starts from this checkpoint."""
    config = training.TrainConfig(epochs=scale["epochs"], lr_linear_epochs=scale["epochs"],
                                  snapshot_epochs=tuple(scale["snapshot_epochs"]), seed=seed, **VGG_RECIPE)
    build = functools.partial(models.VGG19, width=scale["width"], classes=len(cifar.classes))
    return training.trained_model(f"vgg19_w{scale['width']:g}", build, cifar.train, config)


def vgg19_snapshots(cifar, scale, history):
    """``{epoch: VGG-19}`` from the weights :func:`vgg19` kept during training (``history["snapshots"]``)."""
    def snapshot(state):
        model = models.VGG19(width=scale["width"], classes=len(cifar.classes))
        model.load_state_dict(state)
        return model.to(training.default_device()).eval()
    return {epoch: snapshot(state) for epoch, state in history["snapshots"].items()}


def finetune_config(scale, *, adversarial=False, seed=0):
    """The training after the shared checkpoint (QUANOS's step 4 and every baseline): see the module's recipes."""
    return training.TrainConfig(epochs=scale["quanos_epochs"], lr_linear_epochs=scale["quanos_epochs"], seed=seed,
                                **FINETUNE_RECIPE,
                                **({"adv_alpha": ADV_ALPHA, "adv_eps": scale["eps"]} if adversarial else {}))


def layer_removal_finetune(cifar, scale, seed=0):
    """Q2's brief training of each pruned VGG-19 (``scale["finetune_epochs"]`` epochs at lr 0.01, uncached), or
    None when the profile does not fine-tune."""
    if not scale["finetune_epochs"]:
        return None
    config = training.TrainConfig(**{**VGG_RECIPE, "lr": 0.01, "lr_linear_final": None},
                                  epochs=scale["finetune_epochs"], seed=seed)
    return lambda pruned: training.train(pruned, cifar.train, config, progress=False)


def finetuned_vgg19(cifar, scale, start, bits=None, *, label, adversarial=False, seed=0):
    """``start`` (a trained VGG-19; a fake-quantized one starts from its float weights) fake-quantized to
    ``bits`` (``{layer: bits}``; ``None`` keeps 32-bit float) and trained on for ``scale["quanos_epochs"]``
    epochs (with FGSM adversarial training if ``adversarial``). ``label`` names the checkpoint file."""
    return quanos.train_quantized(start, bits, cifar.train, finetune_config(scale, adversarial=adversarial, seed=seed),
                                  name=_finetune_name(scale, label, adversarial))


def _finetune_name(scale, label, adversarial=False):
    return f"vgg19_w{scale['width']:g}_{'adv_' if adversarial else ''}{label}"


def quanos_vgg19(cifar, scale, start, ans_split, seed=0):
    """QUANOS's Algorithm 1 (steps 2-4, ``scale["quanos_iterations"]`` times) on the partially trained VGG-19
    ``start``, with ANS at ``scale["eps"]`` on ``ans_split`` (:func:`quanos_lib.quanos.quanos`)."""
    return quanos.quanos(start, cifar.train, ans_split, finetune_config(scale, seed=seed), eps=scale["eps"],
                         iterations=scale["quanos_iterations"], name=_finetune_name(scale, "QUANOS"))


def substitute_vgg19(cifar, scale, seed=0):
    """The black-box attacker's own VGG-19: same width, trained separately (seed + 1, fewer epochs)."""
    config = training.TrainConfig(epochs=scale["substitute_epochs"], lr_linear_epochs=scale["substitute_epochs"],
                                  seed=seed + 1, **VGG_RECIPE)
    build = functools.partial(models.VGG19, width=scale["width"], classes=len(cifar.classes))
    return training.trained_model(f"vgg19_substitute_w{scale['width']:g}", build, cifar.train, config)
