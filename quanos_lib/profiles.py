"""The scale of every experiment, per profile, in one place.

- ``smoke``: seconds per notebook, tiny subsets. Only for CI and nbval: its numbers mean nothing.
- ``cpu``: what a 2-core laptop does in reasonable time. MNIST experiments at the paper's data scale.
- ``full``: the paper's scale, for a GPU.
- ``auto``: ``full`` where CUDA is available, else ``cpu``. ``$QUANOS_PROFILE`` overrides every
  choice (the test suite sets it to ``smoke``; ``reproduce.sh`` sets it to the profile it runs).

A notebook asks for its scale through :func:`quanos_lib.experiment.start` (``profiles.get(profile)["linear"]``
underneath), and every result it records carries that scale, so every number names the scale that produced it.
``eps`` in a scale is the attack's eps of the paper's scored setting, ``clip`` its clipping (``None`` on MNIST: the
FGSM paper's unclipped formula). Every model trains to convergence by one rule (:mod:`quanos_lib.zoo`): early stopping
on the validation split after ``patience`` epochs without improvement, capped at ``epochs``.
"""
import os

import torch

from .paper import FGSM_CLIP, FGSM_EPS_CIFAR10, FGSM_EPS_IMAGENET_PIXELS, FGSM_EPS_MNIST

PROFILES = ("smoke", "cpu", "full")

# Linear models train in seconds, so `cpu` already runs them on all of MNIST, early-stopped like every model.
_LINEAR_FULL_DATA = {
    "eps": FGSM_EPS_MNIST, "clip": FGSM_CLIP, "train_size": None, "test_size": None, "epochs": 200, "patience": 20,
    "eps_curve": [round(0.025 * i, 3) for i in range(13)],  # 0, 0.025, ..., 0.3
    "sweep_eps": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25],
    "sweep_l1": [0.0, 1e-4, 3e-4, 1e-3, 2.5e-3, 1e-2, 3e-2, 1e-1],
    "confidence_epochs": [1, 5, 20, 100],  # F1: how confidence under attack grows with training (fixed epochs)
    "confidence_weight_decay": [1e-4, 1e-3, 1e-2],  # F1: ... and falls with L2 weight decay (early-stopped)
}

# Notebooks 02-04 (maxout on MNIST). `epochs` caps the early-stopped phase on the first 50k images,
# `continue_epochs` the continued training on all 60k. The networks behind F2, F6, F9-F11, F19, F20 (naive and
# adversarially trained) get the full caps; the noise-trained (F12), L1 (F5) and sigmoid-top (F17) networks get
# `short_epochs` / `short_continue_epochs` and the ensemble's members `ensemble_epochs` / ...: the same rule, a
# smaller cap. PGD (`pgd_steps`, random start) and the masking checks' eps grid (`masking_eps`, on `masking_size` random
# test images; None: all) are ours (notebook 03). F6's comparison over seeds (`f6_seeds`) pairs each seed's naive and
# adversarially trained network at the ensemble's caps (the naive ones are the ensemble's members); F5's L1 halves are
# scored over `l1_seeds` by probes of `l1_probe_epochs` epochs each.
_MAXOUT_COMMON = {
    "eps": FGSM_EPS_MNIST, "clip": FGSM_CLIP, "train_size": None, "test_size": None,
    "eps_curve": [round(0.025 * i, 3) for i in range(13)],
    "f19_points": 301,                      # eps grid of Figure 4, from -15 to 15
    "l1_coefficients": [0.0025, 0.001, 0.0001],
    "rbf_epochs": 200, "rbf_patience": 20,
    "pgd_steps": 40, "masking_eps": [0.0, 0.1, 0.25, 0.3, 0.5], "masking_size": None,
    "rubbish_samples": 10000,
    "ensemble_size": 12, "ensemble_sizes": [1, 2, 4, 12],
    "f6_seeds": [0, 1, 2], "l1_seeds": [0, 1, 2], "l1_probe_epochs": 10,
}

# Notebook 05 (conv maxout on CIFAR-10). `lr_decay_epochs` / `momentum_epochs`: the epochs in which the paper's
# schedules reach their final values (cifar10.yaml's LinearDecayOverEpoch to 1% with saturate 500 and MomentumAdjustor
# 0.5 -> 0.65 with saturate 250 reach them in epochs 501 and 251: its 474 epochs never reach 1%); shorter runs compress
# them into the epochs they have. `targeted_eps`: the step sizes of F18's targeted step against eps.
_CONV_COMMON = {"eps": FGSM_EPS_CIFAR10, "eps_curve": [0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3],
                "rubbish_samples": 1000, "targeted_samples": 1000, "targeted_eps": [0.025, 0.05, 0.1, 0.2, 0.4]}

# Notebook 08 (Figure 1: one panda photograph, GoogLeNet's ImageNet weights): the same at every profile, since it
# trains nothing. `eps`: the paper's 0.007 on GoogLeNet's [-1, 1] inputs, one 8-bit step, i.e. 1/255 on pixels in
# [0, 1] (quanos_lib.imagenet); `eps_curve`: FGSM's eps for the confidence-vs-eps curve, in 8-bit steps.
_IMAGENET = {"eps": FGSM_EPS_IMAGENET_PIXELS, "eps_curve": [k / 255 for k in (0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16)]}

# Notebooks 06 and 07 (QUANOS on VGG-19, CIFAR-10). No choice below is made on test images: the last tenth of the
# training images validates (`quanos_lib.zoo.vgg_splits`: ANS, bit widths, calibration, early stopping).
# Notebook 06: `epochs`, the "partially trained" model (the paper: 20-30); `snapshot_epochs`, where ANS is also
# measured during training; `eval_size`, the test images of the reported accuracies and of Q2's removal curves;
# `finetune_epochs` / `removal_finetune_size`, Q2's brief training of each pruned network (0: none).
#
# Notebook 07, the models: every compared model trains from notebook 06's checkpoint on `finetune_size` training
# images (None: all) for the same budget of `quanos_epochs` epochs, keeping its epoch of lowest validation error (no
# early stop inside the budget); the PGD adversarially trained ones (Q7; Madry et al.'s attack: `adv_steps` steps,
# random start; the objective alpha * clean + (1 - alpha) * PGD loss with alpha `adv_alpha`) for `adv_epochs`, keeping
# the epoch of lowest validation error under that attack; the homogeneous baselines keep their weights every
# `finetune_snapshot_every` epochs (for the comparison at matched accuracy); `front_bits`, the homogeneous widths of the
# robustness-cost front; `substitute_epochs`, the black-box substitute's; `quanos_iterations`, how often Algorithm 1's
# steps 2-4 run; `seeds`, the fine-tuning seeds (shuffling order, calibration images, PGD starts) of every scored model;
# `independent_bases`: every seed starts from its own base VGG-19 (Algorithm 1's step 1 with that seed) instead of the
# seed-0 checkpoint of notebook 06 (at `cpu` one base: two more would cost 22 of its 150 minutes).
#
# Notebook 07, the protocol (its changes: quanos_lib.protocol_log): accuracy against eps under FGSM and PGD (`pgd_steps` steps,
# random start) at every eps of `curve_eps` on `attack_size` test images (`front_size` for the models that are
# only on the front, one seed); the scored robustness is the area under the PGD curve over [0, `area_max_eps`]
# (normalized: 1 = accuracy 1 at every eps) and the PGD accuracy at each eps of `gain_eps`; transfer at `eps`;
# the gradient-masking checks on `masking_eps`; the stronger attacks beside them (`strong`: on `size` test images,
# seed 0 of each model kind, at each eps of `gain_eps`): PGD with `steps` steps from `restarts` starts (cross-entropy
# and margin loss), transfer, and AutoAttack's attacks with the budget `autoattack` (quanos_lib.autoattack; `full` runs
# AutoAttack's own, `cpu` a reduced one that fits 2 cores).
_VGG_COMMON = {"eps": 8 / 255, "eps_panel": [1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255],
               "random_orders": 3, "finetune_epochs": 0, "removal_finetune_size": 5000,
               "curve_eps": [1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255], "area_max_eps": 8 / 255,
               "gain_eps": [2 / 255, 4 / 255], "masking_eps": [0.0, 2 / 255, 8 / 255, 16 / 255, 64 / 255],
               "pgd_steps": 10, "adv_steps": 7, "adv_alpha": 0.5, "front_bits": [2, 3, 4, 5, 6, 7, 8, 16], "seeds": [0, 1, 2]}

# Notebook 09 (the MP-DBM of F16 on MNIST): the MP-DBM paper's layers (500, 1000) and 10 mean-field updates at `cpu` and
# `full`; `snapshot_epochs`: the weights kept to measure FGSM error against clean error as training goes on.
_MPDBM_COMMON = {"eps": FGSM_EPS_MNIST, "clip": FGSM_CLIP, "hidden": [500, 1000], "steps": 10}

# Per profile, per experiment group: data sizes (None = the whole split), epochs, widths.
SCALES = {
    "smoke": {
        # Notebook 01: shallow softmax (F1), logistic regression 3 vs 7 (F4), L1 vs adversarial (F5).
        "linear": {"eps": FGSM_EPS_MNIST, "clip": FGSM_CLIP, "train_size": 2000, "test_size": 500, "epochs": 2,
                   "patience": 1,
                   "eps_curve": [0.0, 0.1, 0.25], "sweep_eps": [0.0, 0.25], "sweep_l1": [0.0, 0.0025],
                   "confidence_epochs": [1], "confidence_weight_decay": [1e-2]},
        "maxout": {"eps": FGSM_EPS_MNIST, "clip": FGSM_CLIP, "train_size": 2000, "test_size": 500,
                   "eps_curve": [0.0, 0.1, 0.25], "f19_points": 31, "l1_coefficients": [0.0025, 0.0001], "rbf_epochs": 1,
                   "rbf_patience": 1, "pgd_steps": 3, "masking_eps": [0.0, 0.25, 0.5], "masking_size": None, "rubbish_samples": 1000,
                   "ensemble_size": 3, "ensemble_sizes": [1, 3], "f6_seeds": [0, 1], "l1_seeds": [0, 1],
                   "stacked": True,  # as at full, so that the tests run the stacked path
                   "l1_probe_epochs": 1,
                   "units": 240, "epochs": 1, "patience": 100, "continue_epochs": 1,
                   "short_epochs": 1, "short_continue_epochs": 0, "ensemble_epochs": 1, "ensemble_continue_epochs": 0,
                   # the 1600-unit runs (F7, F8) only at smoke (to test the code) and full
                   "units_large": 400, "large_seeds": [0], "large_epochs": 1, "large_continue_epochs": 1},
        "conv_maxout": {**_CONV_COMMON, "train_size": 500, "test_size": 200, "width": 0.1, "epochs": 1,
                        "lr_decay_epochs": 1, "momentum_epochs": 1, "eps_curve": [0.0, 0.1],
                        "paper_init": False, "conv_lr_scale": 1.0, "lr": 0.05,
                        "rubbish_samples": 100, "targeted_samples": 20, "targeted_eps": [0.1]},
        "imagenet": _IMAGENET,
        "mpdbm": {**_MPDBM_COMMON, "train_size": 2000, "test_size": 500, "hidden": [50, 100], "steps": 3, "epochs": 2,
                  "patience": 1, "snapshot_epochs": [1, 2]},
        "vgg": {**_VGG_COMMON, "train_size": 500, "test_size": 200, "width": 0.05, "epochs": 2,
                "snapshot_epochs": [1, 2], "eval_size": 100, "eps_panel": [2 / 255, 8 / 255], "random_orders": 1,
                "finetune_epochs": 1, "removal_finetune_size": 100, "finetune_size": 200, "quanos_epochs": 1,
                "finetune_snapshot_every": 1, "adv_epochs": 1, "adv_steps": 2, "substitute_epochs": 1,
                "attack_size": 50, "front_size": 30, "pgd_steps": 2, "quanos_iterations": 1, "seeds": [0, 1],
                "front_bits": [2, 8], "curve_eps": [2 / 255, 4 / 255, 8 / 255], "masking_eps": [0.0, 8 / 255, 64 / 255],
                "independent_bases": False, "strong": {"size": 20, "steps": 3, "restarts": 2, "autoattack": {
                    "apgd_iterations": 3, "targets": 1, "square_queries": 10, "square_restarts": 1}}},
    },
    "cpu": {
        "linear": _LINEAR_FULL_DATA,
        # The paper's model and data; the paper's patience (100) shortened and the epochs capped (see notebook 03
        # for what the cap changes) so that notebooks 01-04 finish within 150 minutes on 2 cores.
        "maxout": {**_MAXOUT_COMMON, "units": 240, "epochs": 150, "patience": 40, "continue_epochs": 50,
                   "short_epochs": 40, "short_continue_epochs": 10, "ensemble_epochs": 25, "ensemble_continue_epochs": 5,
                   "masking_size": 2000,  # PGD-40 curves of three networks on all 10k images: 4 of a cached rerun's 7 min
                   "units_large": None, "large_seeds": [], "large_epochs": 0, "large_continue_epochs": 0},
        # A quarter of the paper's width and 10 of its ~474 epochs, on all 50k training images; PyTorch's
        # default initialization and one learning rate of 0.05 for every layer: with the paper's
        # initialization and rates so short a run stays at chance level, and at 0.17 everywhere it diverges.
        "conv_maxout": {**_CONV_COMMON, "train_size": None, "test_size": None, "width": 0.25, "epochs": 10,
                        "lr_decay_epochs": 10, "momentum_epochs": 5, "paper_init": False, "conv_lr_scale": 1.0,
                        "lr": 0.05},
        # An eighth of VGG-19's width, 20 epochs (the paper's lower end) on 45k training images. Every compared model
        # fine-tunes on 10k of them for a budget of 5 epochs; the PGD-7 adversarial training, 8 times as dear per
        # epoch, for 3. Attacks on 2,000 test images (1,000 for the front's).
        "imagenet": _IMAGENET,
        # All of MNIST and the paper's layers; at most 20 epochs (about 25 minutes on 2 cores), patience 3.
        "mpdbm": {**_MPDBM_COMMON, "train_size": None, "test_size": None, "epochs": 20, "patience": 3,
                  "snapshot_epochs": [1, 2, 5, 10, 20]},
        "vgg": {**_VGG_COMMON, "train_size": None, "test_size": None, "width": 0.125, "epochs": 20,
                "snapshot_epochs": [1, 2, 5, 10, 20], "eval_size": 2000, "finetune_epochs": 1,
                "finetune_size": 10000, "quanos_epochs": 5, "finetune_snapshot_every": 1, "adv_epochs": 3,
                "substitute_epochs": 5, "attack_size": 2000, "front_size": 1000, "quanos_iterations": 1,
                "independent_bases": False, "strong": {"size": 500, "steps": 50, "restarts": 5, "autoattack": {
                    "apgd_iterations": 25, "targets": 3, "square_queries": 500, "square_restarts": 1}}},
    },
    "full": {
        # Linear models are cheap: the GPU profile runs them exactly as `cpu` does.
        "linear": _LINEAR_FULL_DATA,
        # The paper's protocol: early stopping with patience 100, then continued training on all 60k.
        "maxout": {**_MAXOUT_COMMON, "units": 240, "epochs": 1000, "patience": 100, "continue_epochs": 500,
                   "short_epochs": 1000, "short_continue_epochs": 500, "ensemble_epochs": 1000,
                   "ensemble_continue_epochs": 500,
                   "units_large": 1600, "large_seeds": [0, 1, 2, 3, 4], "large_epochs": 1000,
                   "large_continue_epochs": 500, "f6_seeds": [0, 1, 2, 3, 4], "l1_seeds": [0, 1, 2, 3, 4],
                   # the seeds of one network (ensemble members, F6's and F8's seeds) in one stacked step
                   # (quanos_lib.stacking): on a GPU a 240-unit step is bound by its launches. cpu trains each alone
                   "stacked": True},
        "conv_maxout": {**_CONV_COMMON, "train_size": None, "test_size": None, "width": 1.0, "epochs": 474,
                        "lr_decay_epochs": 501, "momentum_epochs": 251, "paper_init": True, "conv_lr_scale": 0.05,
                        "lr": 0.17},
        "imagenet": _IMAGENET,
        "mpdbm": {**_MPDBM_COMMON, "train_size": None, "test_size": None, "epochs": 500, "patience": 25,
                  "snapshot_epochs": [1, 2, 5, 10, 20, 50, 100, 200, 500]},
        "vgg": {**_VGG_COMMON, "train_size": None, "test_size": None, "width": 1.0, "epochs": 30,
                "snapshot_epochs": [1, 5, 10, 20, 30], "eval_size": 10000, "finetune_epochs": 1,
                "removal_finetune_size": None, "finetune_size": None, "quanos_epochs": 60, "finetune_snapshot_every": 5,
                "adv_epochs": 40, "substitute_epochs": 30, "attack_size": 10000,
                "front_size": 10000, "pgd_steps": 20, "quanos_iterations": 2, "seeds": [0, 1, 2, 3, 4],
                "independent_bases": True, "strong": {"size": None, "steps": 50, "restarts": 5, "autoattack": {
                    "apgd_iterations": 100, "targets": 9, "square_queries": 5000, "square_restarts": 1}}},
    },
}

NOTES = {
    "smoke": "SMOKE profile: tiny subsets and one epoch, for CI only. These numbers mean nothing.",
    "cpu": "CPU profile: sized for a 2-core laptop.",
    "full": "FULL profile: the paper's scale.",
}
# What the cpu profile changes for each experiment group (the banner names the notebook's own data).
CPU_SCALE_NOTES = {
    "linear": "MNIST at the paper's data scale.",
    "maxout": "MNIST at the paper's data scale, the maxout networks' epochs capped.",
    "mpdbm": "MNIST at the paper's data scale, the epochs capped.",
    "conv_maxout": "CIFAR-10 scaled down: a quarter of the conv maxout network's width, 10 epochs.",
    "vgg": "CIFAR-10 scaled down: VGG-19 at an eighth of its width, fewer epochs and test images.",
    "imagenet": "The same experiment at every profile: nothing is trained.",
}


def eps_text(eps):
    """An eps as a reader knows it: a short decimal as it is (0.25, 0.2), else ``8/255`` where it is a whole
    number of 8-bit steps, else the number."""
    if round(eps, 4) != eps and whole_8bit_steps(eps):
        return f"{round(eps * 255)}/255"
    return f"{eps:g}"


def whole_8bit_steps(eps):
    """Whether ``eps`` is a whole number of 8-bit pixel steps, k/255 (CIFAR's eps are; MNIST's 0.1, 0.25 are not)."""
    return abs(eps * 255 - round(eps * 255)) < 1e-6


class UnknownProfileError(ValueError):
    pass


def resolve(profile="auto"):
    """The concrete profile name for ``profile`` (``auto`` resolved as described above).

    ``$QUANOS_PROFILE``, when set, wins over any value: the test suite runs every notebook at ``smoke``, and
    ``reproduce.sh`` at the profile it was given.
    """
    if os.environ.get("QUANOS_PROFILE"):
        profile = os.environ["QUANOS_PROFILE"]
    elif profile == "auto":
        profile = "full" if torch.cuda.is_available() else "cpu"
    if profile not in PROFILES:
        raise UnknownProfileError(f"unknown profile {profile!r}: choose one of auto, {', '.join(PROFILES)}")
    return profile


class Profile:
    """A resolved profile: ``name``, ``note`` and, by indexing, the scale of one experiment group."""

    def __init__(self, name):
        self.name = resolve(name)
        self.note = NOTES[self.name]

    def note_for(self, experiment):
        """The profile's note for one experiment group (what ``cpu`` scales down there)."""
        extra = CPU_SCALE_NOTES.get(experiment, "") if self.name == "cpu" else ""
        return f"{self.note} {extra}".strip()

    def __getitem__(self, experiment):
        scales = SCALES[self.name]
        if experiment not in scales:
            raise KeyError(f"profile {self.name!r} defines no scale for experiment {experiment!r}; "
                           f"known: {', '.join(sorted(scales))}")
        return dict(scales[experiment])

    def __repr__(self):
        return f"Profile({self.name!r})"


def get(profile="auto"):
    return Profile(profile)
