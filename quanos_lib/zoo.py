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
  linearly to 0.7, reached in epoch 251, max column norm 1.9365; early stopping on the last 10k training
  images (patience ``scale["patience"]``), then continued training on all 60k from the kept epoch, its schedules
  resumed there, until the objective on the 10k falls to the one the 50k had at the kept epoch (pylearn2's
  ``mnist_pi_continued.yaml``: :func:`quanos_lib.training.trained_model`). The profile caps the epochs of both phases (``scale["epochs"]``,
  ``scale["continue_epochs"]``). The adversarial and noise objectives perturb with the FGSM paper's unclipped
  ``x + eps * sign(grad)`` (:data:`quanos_lib.paper.FGSM_CLIP`);
- the RBF network: SGD, batch 100, learning rate 1.0 (its precisions scale the gradients down),
  momentum 0.5, early stopping with ``scale["rbf_patience"]``, at most ``scale["rbf_epochs"]`` epochs;
- the MP-DBM of F16 (784-500-1000 with 10 label units, :class:`quanos_lib.models.MPDBM`; its multi-prediction
  objective, ``scale["steps"]`` mean-field updates): SGD, batch 100, learning rate 0.01, momentum 0.9 (choices: the
  FGSM paper gives none; measured on all 50k training images, this classified within 5 epochs, 5.9% validation error,
  as fast as Adam at 0.001), early stopping on the validation split's classification error (label inferred, every
  pixel observed) with ``scale["patience"]``, at most ``scale["epochs"]`` epochs; the weights after
  ``scale["snapshot_epochs"]`` are kept, to measure how its FGSM error follows its clean error;
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
  ``scale["epochs"]`` epochs from random initialization (20-30 in the paper; Algorithm 1's fixed budget), snapshots
  kept for ANS. It trains on the training images less the validation split (:func:`vgg_splits`: the last tenth of the
  training images, where ANS, calibration and early stopping of notebooks 06-07 look; no test image);
- QUANOS's step 4 (:func:`quanos_lib.quanos.quanos`) and every baseline of notebook 07 (the paper gives no
  recipe, only "until convergence"): the partially trained VGG-19, fake-quantized to a bit mapping (or left in float),
  trained on the fine-tuning images with the same recipe at a learning rate of 0.01 falling linearly to 1% of it in
  the last epoch of the budget ``scale["quanos_epochs"]``, keeping the epoch of lowest validation error, never
  stopped early: every model of a comparison follows the same rule, for the same budget, from the same checkpoint.
  Q7's adversarially trained ones use PGD adversarial training (Madry et al.'s attack, ``scale["adv_steps"]`` steps,
  random start, at the attack's eps ``scale["eps"]``, in the FGSM paper's objective with ``scale["adv_alpha"]``; see
  :func:`finetune_config`) for ``scale["adv_epochs"]``, keeping the epoch of lowest validation error under that PGD
  attack;
- the black-box attacker's substitute: a VGG-19 of the same width trained separately (seed + 1) with
  the VGG-19 recipe for ``scale["substitute_epochs"]`` epochs.
"""
import dataclasses
import functools

from . import ans, models, quanos, quantization, stacking, training
from .paper import ADV_ALPHA, FGSM_CLIP, FGSM_EPS_MNIST
from .profiles import eps_text

LINEAR_RECIPE = {"batch_size": 100, "lr": 0.1, "momentum": 0.5}
# mnist_pi.yaml's MomentumAdjustor(start=1, saturate=250): 0.7 reached in epoch 251 (training.momentum)
MAXOUT_RECIPE = {"batch_size": 100, "lr": 0.1, "lr_decay": 1.000004, "lr_min": 1e-6, "momentum": 0.5,
                 "momentum_final": 0.7, "momentum_epochs": 251, "max_col_norm": 1.9365}
RBF_RECIPE = {"batch_size": 100, "lr": 1.0, "momentum": 0.5}
MPDBM_RECIPE = {"batch_size": 100, "lr": 0.01, "momentum": 0.9}
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


def maxout(mnist, scale, variant="naive", *, seed=0, top="softmax", units=None, budget=None, epochs=None,
           continue_epochs=None, **changes):
    """A maxout network trained with one of :data:`MAXOUT_VARIANTS`, optionally with a sigmoid top, another width, or
    ``changes`` to its training configuration: ``l1`` (L1 weight decay on its first layer), ``val_adv_eps`` (early
    stopping on the validation set's FGSM error, as for F8), ``adv_dropout`` (the objective's FGSM point computed with
    dropout on). Its epoch caps are the scale's ``epochs`` / ``continue_epochs``, or with ``budget="short"``
    (``"ensemble"``) its ``short_epochs`` / ``short_continue_epochs`` (``ensemble_...``); ``epochs`` /
    ``continue_epochs`` override them."""
    return maxouts(mnist, scale, variant, seeds=[seed], top=top, units=units, budget=budget, epochs=epochs,
                   continue_epochs=continue_epochs, **changes)[0]


def maxouts(mnist, scale, variant="naive", *, seeds, top="softmax", units=None, budget=None, epochs=None,
            continue_epochs=None, **changes):
    """:func:`maxout` for each of ``seeds``, as a list of ``(model, history)``; where the scale says ``stacked``
    (the ``full`` profile: a profile's choice, so a notebook and a job agree on the keys wherever they run), the runs
    train together in one stacked step (:func:`quanos_lib.stacking.trained_models`)."""
    name, build, configs = maxout_runs(scale, variant, seeds=seeds, top=top, units=units, budget=budget,
                                       epochs=epochs, continue_epochs=continue_epochs, **changes)
    train, val = train_and_validation(mnist.train)
    return stacking.trained_models(name, build, train, configs, val_split=val)


def maxout_runs(scale, variant="naive", *, seeds, top="softmax", units=None, budget=None, epochs=None,
                continue_epochs=None, **changes):
    """What :func:`maxouts` trains, without data: ``(checkpoint name, build, [TrainConfig per seed])`` (a workflow
    reads it to see which jobs reach the same runs, :func:`quanos_lib.jobs.registry`)."""
    prefix = f"{budget}_" if budget else ""
    configs = [training.TrainConfig(
        epochs=scale[f"{prefix}epochs"] if epochs is None else epochs, patience=scale["patience"],
        continue_epochs=scale[f"{prefix}continue_epochs"] if continue_epochs is None else continue_epochs,
        seed=seed, **MAXOUT_RECIPE, **MAXOUT_VARIANTS[variant], **changes) for seed in seeds]
    if scale.get("stacked", False) and stacking.supported(configs[0]):  # one seed too: a stack of one, so that its
        # key is the one it has inside a larger stack (notebook 02's naive net is F6's seed 0, say)
        configs = [dataclasses.replace(config, stacked=True) for config in configs]
    units = units or scale["units"]
    return f"maxout{units}_{variant}", functools.partial(models.MaxoutMLP, units=units, top=top), configs


def l1_probe(mnist, scale, l1, seed=0):
    """F5's short probe of L1 weight decay at coefficient ``l1``: the naive maxout recipe with the penalty on its first
    layer for ``scale["l1_probe_epochs"]`` epochs, no continued phase (whether a coefficient collapses the network is
    decided within a few epochs: notebook 03)."""
    return maxout(mnist, scale, seed=seed, l1=l1, epochs=scale["l1_probe_epochs"], continue_epochs=0)


def maxout_ensemble(mnist, scale):
    """``scale["ensemble_size"]`` naive maxout networks differing only in their seed (0, 1, ...),
    trained with the ensemble's epoch caps, averaged by :class:`quanos_lib.models.Ensemble`.
    Returns ``(ensemble, [each member's history])``."""
    members = maxouts(mnist, scale, seeds=range(scale["ensemble_size"]), budget="ensemble")
    return models.Ensemble([model for model, _ in members]).eval(), [history for _, history in members]


def rbf_network(mnist, scale, seed=0, precision="diagonal"):
    """The shallow RBF network of F13/F17 (``precision="scalar"``: its isotropic variant), early-stopped on the
    validation split."""
    train, val = train_and_validation(mnist.train)
    config = training.TrainConfig(epochs=scale["rbf_epochs"], patience=scale["rbf_patience"], seed=seed, **RBF_RECIPE)
    name = "rbf_network" if precision == "diagonal" else f"rbf_network_{precision}"
    return training.trained_model(name, functools.partial(models.RBFNetwork, precision=precision), train, config,
                                  val_split=val)


def mpdbm(mnist, scale, seed=0):
    """The MP-DBM of F16 (layer sizes ``scale["hidden"]``, ``scale["steps"]`` mean-field updates), its visible biases
    started from the training images' mean pixel, early-stopped on the validation split."""
    train, val = train_and_validation(mnist.train)
    config = training.TrainConfig(epochs=scale["epochs"], patience=scale["patience"],
                                  snapshot_epochs=tuple(scale["snapshot_epochs"]), seed=seed, **MPDBM_RECIPE)
    build = _mpdbm_build(scale, visible_mean=train.float().x.flatten(1).mean(0))
    return training.trained_model("mpdbm", build, train, config, val_split=val)


def mpdbm_snapshots(scale, history):
    """``{epoch: MP-DBM}`` from the weights :func:`mpdbm` kept during training."""
    return _snapshots(_mpdbm_build(scale), history)


def _mpdbm_build(scale, **extra):
    return functools.partial(models.MPDBM, hidden=tuple(scale["hidden"]), steps=scale["steps"], **extra)


def _snapshots(build, history):
    def snapshot(state):
        model = build()
        model.load_state_dict(state)
        return model.to(training.default_device()).eval()
    return {epoch: snapshot(state) for epoch, state in history["snapshots"].items()}


def conv_maxout(preprocessed, scale, seed=0):
    """The conv maxout network of F3/F18, ``scale["width"]`` times the paper's width, trained on the
    GCN + ZCA preprocessed CIFAR-10 training images (:mod:`quanos_lib.preprocessing`)."""
    config = training.TrainConfig(epochs=scale["epochs"], lr_linear_epochs=scale["lr_decay_epochs"],
                                  momentum_epochs=scale["momentum_epochs"], seed=seed,
                                  **{**CONV_MAXOUT_RECIPE, "lr": scale["lr"]})
    build = functools.partial(models.ConvMaxoutNet, width=scale["width"], conv_lr_scale=scale["conv_lr_scale"],
                              init_range=0.005 if scale["paper_init"] else None)
    return training.trained_model(f"conv_maxout_w{scale['width']:g}", build, preprocessed.train, config)


CIFAR_VALIDATION_SHARE = 0.1  # the last 5,000 of CIFAR's 50,000 training images validate; never trained on


@dataclasses.dataclass
class VggSplits:
    """The images of the QUANOS experiments (notebooks 06, 07), none of them a test image:

    ``train``: the training images less the validation split (45,000 of 50,000), the partially trained VGG-19's
    and the substitute's; ``validation``: the last :data:`CIFAR_VALIDATION_SHARE` of the training images, where
    ANS is measured (hence the bit widths), activation ranges are calibrated and every fine-tuned model
    early-stops; ``finetune``: the images every compared model trains on after the checkpoint
    (``scale["finetune_size"]`` of ``train``, the same random ones for every model and seed; None: all).
    """
    train: object
    validation: object
    finetune: object


def vgg_splits(cifar, scale):
    """:class:`VggSplits` of ``cifar`` at ``scale``."""
    train, validation = cifar.train.holdout(round(len(cifar.train) * CIFAR_VALIDATION_SHARE))
    return VggSplits(train, validation.float(), train.subset(scale["finetune_size"], seed=0))


def vgg19(cifar, scale, seed=0):
    """QUANOS's partially trained VGG-19 (``scale["width"]`` times the usual width), trained for
    ``scale["epochs"]`` epochs (Algorithm 1's fixed budget, 20-30 in the paper) on the training images less the
    validation split (:func:`vgg_splits`); ``history["snapshots"]`` holds its weights after
    ``scale["snapshot_epochs"]``. Notebook 07 starts from this checkpoint."""
    config = training.TrainConfig(epochs=scale["epochs"], lr_linear_epochs=scale["epochs"],
                                  snapshot_epochs=tuple(scale["snapshot_epochs"]), seed=seed, **VGG_RECIPE)
    build = functools.partial(models.VGG19, width=scale["width"], classes=len(cifar.classes))
    return training.trained_model(f"vgg19_w{scale['width']:g}", build, vgg_splits(cifar, scale).train, config)


def vgg19_snapshots(cifar, scale, history):
    """``{epoch: VGG-19}`` from the weights :func:`vgg19` kept during training (``history["snapshots"]``)."""
    return _snapshots(functools.partial(models.VGG19, width=scale["width"], classes=len(cifar.classes)), history)


def finetune_config(scale, *, adversarial=False, seed=0, snapshots=False):
    """The training after the shared checkpoint (QUANOS's step 4 and every baseline; see the module's recipes), one
    rule for every model of a comparison: the same budget of ``scale["quanos_epochs"]`` epochs (the learning rate
    falling linearly to 1% in the last), keeping the epoch of lowest validation error, with no early stop inside the
    budget, so that no model of a comparison stops sooner than another. ``adversarial``: PGD adversarial training
    instead, a budget of ``scale["adv_epochs"]``, keeping the epoch of lowest validation error under the training
    attack (Rice et al., 2020: robust error, not clean error). The attack is Madry et al.'s (``scale["adv_steps"]``
    PGD steps with a random start at ``scale["eps"]``); the objective keeps the clean term,
    ``alpha * J(x) + (1 - alpha) * J(x_pgd)`` with ``alpha = scale["adv_alpha"]`` (0.5, the FGSM paper's), not
    Madry's alpha 0 (choice: with alpha 0 the width-1/8 VGG-19 of ``cpu`` collapses to a near-constant classifier, 21%
    clean on validation images; Madry et al. show small networks cannot fit that objective). ``snapshots``: keep the
    weights every ``scale["finetune_snapshot_every"]`` epochs (the baselines whose epochs a comparison at matched
    accuracy may pick)."""
    if adversarial:
        epochs, rule = scale["adv_epochs"], {"adv_alpha": scale["adv_alpha"], "adv_kind": "pgd",
                                             "adv_steps": scale["adv_steps"], "adv_eps": scale["eps"],
                                             "val_adv_eps": scale["eps"], "val_adv_kind": "pgd"}
    else:
        epochs, rule = scale["quanos_epochs"], {}
    every = scale["finetune_snapshot_every"]
    kept = tuple(range(every, epochs + 1, every)) if snapshots and every else ()
    return training.TrainConfig(epochs=epochs, lr_linear_epochs=epochs, snapshot_epochs=kept, seed=seed,
                                **FINETUNE_RECIPE, **rule)


def layer_removal_finetune(cifar, scale, seed=0):
    """Q2's brief training of each pruned VGG-19 (``scale["finetune_epochs"]`` epoch(s) at lr 0.01 on
    ``scale["removal_finetune_size"]`` training images, uncached), or None when the profile does not fine-tune."""
    if not scale["finetune_epochs"]:
        return None
    config = training.TrainConfig(**{**VGG_RECIPE, "lr": 0.01, "lr_linear_final": None},
                                  epochs=scale["finetune_epochs"], seed=seed)
    images = vgg_splits(cifar, scale).train.subset(scale["removal_finetune_size"], seed)
    return lambda pruned: training.train(pruned, images, config, progress=False)


def finetuned_vgg19(cifar, scale, start, bits=None, *, label, adversarial=False, seed=0, snapshots=False):
    """``start`` (a trained VGG-19; a fake-quantized one starts from its float weights) fake-quantized to
    ``bits`` (``{layer: bits}``; ``None`` keeps 32-bit float) and trained on the fine-tuning images by
    :func:`finetune_config` (PGD adversarial training if ``adversarial``; ``snapshots`` kept for a comparison at
    matched accuracy). ``label`` names the checkpoint file."""
    splits = vgg_splits(cifar, scale)
    config = finetune_config(scale, adversarial=adversarial, seed=seed, snapshots=snapshots)
    return quanos.train_quantized(start, bits, splits.finetune, config, val_split=splits.validation,
                                  name=_finetune_name(scale, label, adversarial))


def _finetune_name(scale, label, adversarial=False):
    return f"vgg19_w{scale['width']:g}_{'adv_' if adversarial else ''}{label}"


# QUANOS's classifier (its last layer, whose ANS read on its logits gives it 2 bits at cpu) three ways: as Algorithm 1
# reads it (scored), kept at 8 bits, and with its ANS read on its input (the features it classifies).
CLASSIFIER_READINGS = {None: "QUANOS", "8-bit": "QUANOS, classifier at 8 bits",
                       "input": "QUANOS, classifier's ANS on its input"}


def quanos_vgg19(cifar, scale, start, *, ans_eps=None, seed=0, classifier=None):
    """QUANOS's Algorithm 1 (steps 2-4, ``scale["quanos_iterations"]`` times) on the partially trained VGG-19
    ``start`` (:func:`quanos_lib.quanos.quanos`): ANS at ``ans_eps`` (default ``scale["eps"]``) on the validation
    images, step 4 as every baseline (:func:`finetune_config`) on the fine-tuning images. ``classifier``: ``None``
    (the scored mapping), ``"8-bit"`` (the classifier kept at 8 bits) or ``"input"`` (its ANS read on its input,
    ``features.pool5``'s output) — :data:`CLASSIFIER_READINGS`."""
    splits, ans_eps = vgg_splits(cifar, scale), scale["eps"] if ans_eps is None else ans_eps
    name = "QUANOS" if ans_eps == scale["eps"] else f"QUANOS_ans_eps_{ans_eps * 255:g}_255"
    if classifier is not None:
        name += f"_classifier_{classifier.replace('-', '')}"
    layers = {**ans.default_layers(start), "classifier": "features.pool5"} if classifier == "input" else None
    return quanos.quanos(start, splits.finetune, splits.validation, finetune_config(scale, seed=seed), eps=ans_eps,
                         iterations=scale["quanos_iterations"], name=_finetune_name(scale, name), layers=layers,
                         fixed={"classifier": 8} if classifier == "8-bit" else None)


def quanos_label(scale, ans_eps):
    """``QUANOS`` for the scored mapping (ANS at ``scale["eps"]``), else ``QUANOS (ANS at 2/255)``."""
    return "QUANOS" if ans_eps == scale["eps"] else f"QUANOS (ANS at {eps_text(ans_eps)})"


def quanos_front(cifar, scale, start, seed=0):
    """The models of the robustness-cost front (notebook 07), each trained from ``start`` by :func:`finetune_config`:
    32-bit float, homogeneous at every width of ``scale["front_bits"]``, and QUANOS with ANS at every eps of
    ``scale["eps_panel"]``. Returns ``({label: (model, history)}, {label: bits or None})``."""
    plans = {"32-bit float": None, **{f"{k}-bit": quantization.uniform_bits(start, k) for k in scale["front_bits"]}}
    trained = {label: finetuned_vgg19(cifar, scale, start, bits, label=label, seed=seed, snapshots=bits is not None)
               for label, bits in plans.items()}
    for ans_eps in scale["eps_panel"]:
        result = quanos_vgg19(cifar, scale, start, ans_eps=ans_eps, seed=seed)
        label = quanos_label(scale, ans_eps)
        trained[label], plans[label] = (result.model, result.history), result.bits
    return trained, plans


def quanos_comparison(cifar, scale, start, seed=0):
    """The models of notebook 07's scored comparisons at one fine-tuning ``seed``, all from ``start``: QUANOS
    (ANS at ``scale["eps"]``) and its two other classifier readings (:data:`CLASSIFIER_READINGS`), homogeneous 8-bit
    (Q4), the iso-compression homogeneous width (:func:`quanos_lib.quantization.iso_size_bits`, Q6), both homogeneous
    ones with their snapshots (for the comparison at matched accuracy), and 32-bit float and QUANOS each with PGD
    adversarial training (Q7). Returns ``({label: (model, history)}, {label: bits or None})``."""
    readings = {label: quanos_vgg19(cifar, scale, start, seed=seed, classifier=reading)
                for reading, label in CLASSIFIER_READINGS.items()}
    result = readings["QUANOS"]
    iso = quantization.iso_size_bits(start, result.bits)
    plans = {label: reading.bits for label, reading in readings.items()}
    trained = {label: (reading.model, reading.history) for label, reading in readings.items()}
    for k in dict.fromkeys([8, iso]):
        plans[f"{k}-bit"] = quantization.uniform_bits(start, k)
        trained[f"{k}-bit"] = finetuned_vgg19(cifar, scale, start, plans[f"{k}-bit"], label=f"{k}-bit", seed=seed,
                                              snapshots=True)
    for label, bits in (("32-bit float", None), ("QUANOS", result.bits)):
        trained[f"{label} + PGD adv. training"] = finetuned_vgg19(cifar, scale, start, bits, label=label,
                                                                  adversarial=True, seed=seed)
        plans[f"{label} + PGD adv. training"] = bits
    return trained, plans


def substitute_vgg19(cifar, scale, seed=0):
    """The black-box attacker's own VGG-19: same width, trained separately (seed + 1, fewer epochs) on the
    training images less the validation split."""
    config = training.TrainConfig(epochs=scale["substitute_epochs"], lr_linear_epochs=scale["substitute_epochs"],
                                  seed=seed + 1, **VGG_RECIPE)
    build = functools.partial(models.VGG19, width=scale["width"], classes=len(cifar.classes))
    return training.trained_model(f"vgg19_substitute_w{scale['width']:g}", build, vgg_splits(cifar, scale).train,
                                  config)
