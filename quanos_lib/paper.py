"""Every value the two papers report, once, keyed by experiment id (see shared REFERENCE.md).

``PAPER[id]`` holds the experiment's title, the notebook that reproduces it, where the paper states
it, and its claims: ``{metric: Claim}``. A claim is one of

- ``approx(value, tol)``: ours is "reproduced" when ``|ours - value| <= tol``;
- ``at_least(value)`` / ``at_most(value)``: a bound ("more than 5x");
- ``between(low, high)``: a range ("about 5-16%");

and a claim may say more of itself (see :class:`Claim`): that it is a trend, judged ``holds`` / ``does not hold`` by
a rule written here before the row was run (``trend``); that it is true by construction (``structural``, with the
reason); that a trivial baseline of its kind, measured beside ours, must fail it for ours to count (``baseline``); or
that it is made at iso-something, which must be measured and met per seed (``iso``). The statuses these give are
defined once, in :data:`quanos_lib.results.STATUSES`.

Rates and confidences are fractions in [0, 1]. The tolerances are ours, shown in a column of their own: wide enough for
the run-to-run spread of a reimplementation, narrow enough that a different result shows as "differs".
QUANOS values come from the abstract only (the full text is not available): shape, not exact numbers.
"""
from dataclasses import dataclass

from .formatting import format_value

# The papers' own settings, named once and used everywhere (never written as literals elsewhere).
FGSM_EPS_MNIST = 0.25    # the FGSM paper's eps on MNIST pixels in [0, 1] (F1, F2, F4, F6-F17)
FGSM_EPS_CIFAR10 = 0.1   # ... on CIFAR-10 in the maxout paper's GCN + ZCA preprocessed space (F3, F18)
FGSM_CLIP = None         # the FGSM paper's x + eps * sign(grad) on MNIST is not clipped to [0, 1] (scored as such)
ADV_ALPHA = 0.5          # the FGSM paper's adversarial objective: alpha * J(x) + (1 - alpha) * J(x_adv)
FGSM_EPS_IMAGENET = 0.007  # Figure 1 on GoogLeNet's [-1, 1] inputs: one 8-bit step (2/255, which the paper gives as 0.007)
FGSM_EPS_IMAGENET_PIXELS = 1 / 255  # ... the same 8-bit step on pixels in [0, 1], the eps we score (quanos_lib.imagenet)
QUANOS_K_INITIAL = 16    # QUANOS's bit rule k_l = k_initial - round(k_initial * ANS_l)


@dataclass(frozen=True)
class Iso:
    """A claim made "at iso-``what``": ours and the baseline's ``what`` (metrics recorded over seeds, paired by seed)
    must differ by at most ``tol`` in every seed, else the comparison is ``not comparable``."""
    what: str
    ours: str
    baseline: str
    tol: float


@dataclass(frozen=True)
class Claim:
    kind: str            # "approx", "at_least", "at_most", "between"
    value: float
    high: float = None   # upper end for "between"
    tol: float = 0.0     # for "approx"
    unit: str = "percent"  # how its values read (quanos_lib.results.format_value): percent, points, ratio, number
    note: str = ""
    paper: str = ""      # the paper's own words or numbers, where the rule's value is our reading of them
    trend: bool = False  # a trend or a figure: "holds" / "does not hold" by this rule, written before the row ran
    derive: object = None  # a function {metric: value} -> the number judged, where no single metric holds it
    structural: str = ""   # true by construction: why (the row is not counted as a reproduction)
    baseline: str = ""     # the metric of a trivial baseline measured beside ours: if it passes too, "vacuous"
    baseline_label: str = ""
    iso: Iso = None

    def holds(self, ours):
        if self.kind == "approx":
            return abs(ours - self.value) <= self.tol
        if self.kind == "at_least":
            return ours >= self.value
        if self.kind == "at_most":
            return ours <= self.value
        return self.value <= ours <= self.high

    def holds_on(self, low, high):
        """The claim judged on an interval ``[low, high]`` (a mean over seeds): True if every value in it
        satisfies the claim, False if none does, None if the interval straddles the claim's edge."""
        if self.kind == "approx":
            inside, outside = (self.value - self.tol <= low and high <= self.value + self.tol,
                               high < self.value - self.tol or low > self.value + self.tol)
        elif self.kind == "at_least":
            inside, outside = low >= self.value, high < self.value
        elif self.kind == "at_most":
            inside, outside = high <= self.value, low > self.value
        else:
            inside, outside = self.value <= low and high <= self.high, high < self.value or low > self.high
        return True if inside else False if outside else None

    def paper_text(self):
        """The paper's value as the scorecard prints it (its own words where the rule is our reading of them)."""
        if self.paper:
            return self.paper
        fmt = self._format
        if self.kind == "approx":
            return fmt(self.value)
        if self.kind == "between":
            return f"{fmt(self.value)}–{fmt(self.high)}"
        return f"{'≥' if self.kind == 'at_least' else '≤'} {fmt(self.value)}"

    def rule_text(self):
        """Our tolerance or test, as the scorecard prints it beside the paper's value: ``±5.0 pts`` for ``approx``,
        the rule for a bound or a trend (``≥ 0.95``)."""
        fmt = self._format
        if self.kind == "approx":
            tol = fmt(self.tol) if self.unit in ("ratio", "number") else f"{100 * self.tol:.1f} pts"
            return f"±{tol}"
        if self.kind == "between":
            return f"in {fmt(self.value)}–{fmt(self.high)}"
        return f"{'≥' if self.kind == 'at_least' else '≤'} {fmt(self.value)}"

    def text(self):
        """The paper's value and our rule in one line (stored beside each recorded metric)."""
        return f"paper {self.paper_text()}; ours {self.rule_text()}"

    def _format(self, value):
        return format_value(value, self.unit)


def approx(value, tol=0.05, **kw):
    return Claim("approx", value, tol=tol, **kw)


def at_least(value, **kw):
    return Claim("at_least", value, **kw)


def at_most(value, **kw):
    return Claim("at_most", value, **kw)


def between(low, high, **kw):
    return Claim("between", low, high=high, **kw)


def _entry(title, notebook, where, **claims):
    return {"title": title, "notebook": notebook, "where": where, "claims": claims}


NB01, NB02, NB03, NB04, NB05 = ("01_linear_models", "02_maxout_fgsm_and_linearity", "03_adversarial_training",
                                "04_ensembles_rbf_rubbish", "05_conv_maxout_cifar10")
NB06, NB07, NB08, NB09 = "06_ans_vgg19", "07_quanos_cifar10", "08_panda_googlenet", "09_mpdbm_fgsm"
# The scored robustness gains of Q4, Q6, Q7 (quanos_lib.protocol.metric_name of its scored columns).
_SCORED_GAINS = ("pgd_area_gain", "pgd_at_2_255_gain", "pgd_at_4_255_gain")
CLEAN_TOL = 0.005  # clean MNIST errors below 2%: half a percentage point
ISO_ACCURACY_TOL = 0.01  # "at iso-accuracy": clean accuracies within one percentage point, in every seed


def _ans_spread(metrics):
    """Q1: the largest layer's ANS over the smallest's."""
    ans = [value for name, value in metrics.items() if name.startswith("ans_")]
    return max(ans) / min(ans) if ans and min(ans) > 0 else None



PAPER = {
    "F1": _entry("FGSM eps=0.25 on a shallow softmax, MNIST", NB01, "tex:333",
                 adv_error=approx(0.999), adv_confidence=approx(0.793)),
    "F2": _entry("FGSM eps=0.25 on a maxout network, MNIST", NB02, "tex:338",
                 adv_error=approx(0.894), adv_confidence=approx(0.976)),
    "F3": _entry("FGSM eps=0.1 on conv maxout, CIFAR-10 (preprocessed)", NB05, "tex:340",
                 adv_error=approx(0.8715), adv_confidence_on_errors=approx(0.966)),
    "F4": _entry("Logistic regression, MNIST 3 vs 7: clean -> FGSM eps=0.25", NB01, "tex:454-456",
                 clean_error=approx(0.016, 0.01), adv_error=approx(0.99)),
    # F5's two halves, each over seeds (probes of a few epochs: notebook 03): 0.0025 is "too large" (stuck above 5%
    # training error) and the smaller coefficients "train" (below it).
    "F5": _entry("L1 weight decay instead of adversarial training (maxout, L1 on the first layer)",
                 f"{NB01} (linear), {NB03} (maxout)", "tex:429-432",
                 train_error_l1_0_0025=at_least(0.05, paper="above 5% (0.0025 too large)"),
                 train_error_l1_0_001=at_most(0.05, paper="smaller coefficients train"),
                 train_error_l1_0_0001=at_most(0.05, paper="smaller coefficients train")),
    # F6's claim is the improvement: adversarially trained minus naive clean error, paired by seed (notebook 03).
    "F6": _entry("Adversarial training of maxout (alpha=0.5, eps=0.25): clean error", NB03, "tex:488-494",
                 naive_clean_error=approx(0.0094, CLEAN_TOL),
                 adv_training_clean_error_change=at_most(0.0, unit="points", paper="0.94% → 0.84% (−0.10 pts)",
                                                         note="adversarially trained minus naive, paired by seed")),
    "F7": _entry("Maxout 1600 units, no adversarial training: clean error", NB03, "tex:500",
                 clean_error=approx(0.0114, CLEAN_TOL)),
    "F8": _entry("Maxout 1600 units + adversarial training, 5 seeds: clean error", NB03, "tex:497-512",
                 clean_error_mean=approx(0.00782, CLEAN_TOL)),
    "F9": _entry("FGSM eps=0.25 error: naive -> adversarially trained maxout", NB03, "tex:514",
                 adv_trained_adv_error=approx(0.179, note="the naive network's is F2's row")),
    "F10": _entry("Transfer between naive and adversarially trained maxout", NB03, "tex:518",
                  naive_to_adv_trained_error=approx(0.196), adv_trained_to_naive_error=approx(0.409)),
    "F11": _entry("Adversarially trained maxout: confidence on its mistakes", NB03, "tex:522",
                  adv_confidence_on_errors=approx(0.814)),
    "F12": _entry("Training with noise instead of adversarial examples", NB03, "tex:555-557",
                  sign_noise_adv_error=approx(0.862), sign_noise_adv_confidence=approx(0.973),
                  uniform_noise_adv_error=approx(0.904), uniform_noise_adv_confidence=approx(0.978)),
    "F13": _entry("Shallow RBF network under FGSM", NB04, "tex:600-604",
                  adv_error=approx(0.554), adv_confidence_on_errors=approx(0.012, 0.02),
                  clean_confidence=approx(0.606)),
    "F14": _entry("Cross-model agreement of maxout's adversarial examples", NB02, "tex:681-688",
                  # the paper's definitions: on maxout's misclassified examples, the share given maxout's class; then
                  # "where both models being compared make a mistake"; the RBF against the softmax likewise
                  softmax_same_class=approx(0.546), rbf_same_class=approx(0.160),
                  softmax_same_class_both_wrong=approx(0.846), rbf_same_class_both_wrong=approx(0.543),
                  rbf_softmax_agreement_both_wrong=approx(0.536)),
    "F15": _entry("Ensemble of 12 maxout networks under FGSM", NB04, "tex:819-824",
                  ensemble_adv_error=approx(0.911), member_adv_error=approx(0.879)),
    "F16": _entry("MP-DBM under FGSM", NB09, "tex:794-800",
                  clean_error=approx(0.0088, CLEAN_TOL),
                  adv_error=approx(0.975, baseline="sign_noise_error",
                                   baseline_label="random sign noise of the same size")),
    "F17": _entry("Rubbish examples N(0, I) on MNIST models (any class p > 0.5)", NB04, "tex:905-923",
                  maxout_error=approx(0.9835), maxout_confidence=approx(0.928),
                  sigmoid_error=approx(0.68), sigmoid_confidence=approx(0.879),
                  softmax_error=approx(0.598), softmax_confidence=approx(0.708),
                  rbf_error=approx(0.0, 0.01, structural="a class scores above 0.5 only within exp(-d) > 0.5 of its "
                                   "prototype, d < ln 2, far inside the distance of N(0, I) noise (notebook 04 "
                                   "records the smallest d it met)")),
    # The targeted rates: the rubbish-class appendix, whose figure counts a sample as fooled when the target class has
    # at least 50% probability; the line giving these rates was not located in the text available offline.
    "F18": _entry("Rubbish examples N(0, I_3072) on conv maxout, CIFAR-10; one targeted sign step per class",
                  NB05, "tex:911-912; targeted: the rubbish-class appendix (line not located, unconfirmed)",
                  error=approx(0.934), confidence=approx(0.844),
                  frog_share=approx(0.5, 0.15, paper="about half"),
                  **{f"targeted_{name}_success": approx(value, baseline=f"targeted_{name}_success_no_step",
                                                        baseline_label="no step (eps 0)")
                     for name, value in (("mean", 0.753), ("airplane", 0.247), ("frog", 1.0), ("truck", 1.0))}),
    # Trends, judged by the rule written here (before their rows were rerun).
    "F19": _entry("Linearity: softmax arguments along the FGSM direction (Fig. 4)", NB02, "tex:768",
                  min_r2_right=at_least(0.95, unit="number", trend=True, paper="piecewise linear"),
                  min_r2_left=at_least(0.95, unit="number", trend=True, paper="piecewise linear"),
                  true_class_band_width=at_most(3.0, unit="number", trend=True,
                                                paper="a narrow band of eps (in [-15, 15])")),
    "F20": _entry("First-layer filters, naive vs adversarially trained (Fig. 3)", NB03, "tex:523",
                  adv_minus_naive_top10_mass=at_least(0.0, unit="points", trend=True,
                                                      paper="more localized when adversarially trained",
                                                      note="share of each filter's |w| on its top 10% pixels")),
    "F21": _entry("Panda -> gibbon on GoogLeNet (Fig. 1)", NB08, "tex:364-383",
                  clean_confidence=approx(0.577), adv_confidence=approx(0.993)),
    "Q1": _entry("ANS per layer of a partially trained VGG-19, CIFAR-10", NB06, "abstract, slides",
                 ans_spread=at_least(2.0, unit="ratio", trend=True, derive=_ans_spread,
                                     paper="ANS differs across layers", note="largest layer's ANS over the smallest's")),
    "Q2": _entry("ANS-guided layer removal of VGG-19", NB06, "abstract, slides",
                 removal_fgsm_gain=at_least(0.01, unit="points", trend=True,
                                            paper="ANS predicts a layer's share of the vulnerability",
                                            note="mean FGSM accuracy, highest-ANS-first minus lowest-first removal, "
                                                 "fine-tuned (bootstrap interval over the test images)")),
    "Q3": _entry("QUANOS bit widths from ANS (k_initial = 16)", NB06, "abstract, slides",
                 mean_bits=at_most(16.0, unit="number", paper="fewer bits where ANS is high",
                                   structural="k = 16 - round(16 ANS) gives fewer bits to a higher ANS by construction")),
    # Q4, Q6, Q7 are scored by notebook 07's protocol (quanos_lib.protocol): the area under the PGD accuracy-vs-eps
    # curve over [0, 8/255] and the PGD accuracy at 2/255 and 4/255, as gains over the baseline (mean and 95%
    # interval over seeds). The abstract gives each gain as a range or a bound; a claim holds where the whole
    # interval reaches the range's lower end.
    "Q4": _entry("QUANOS vs homogeneous 8-bit at iso-accuracy: robustness gain", NB07, "abstract",
                 **{f"{metric}_vs_8bit": at_least(0.03, unit="points", paper="+3–4%",
                                                  iso=Iso("validation accuracy", "val_accuracy_vs_8bit_ours",
                                                          "val_accuracy_vs_8bit_baseline", ISO_ACCURACY_TOL))
                    for metric in _SCORED_GAINS}),
    "Q5": _entry("QUANOS compression and energy vs 8-bit (and vs 32-bit float)", NB07, "abstract",
                 compression_vs_8bit=at_least(5.0, unit="ratio", note="the abstract's baseline is 8-bit; the 2-bit "
                                              "floor caps it (notebook 07)"),
                 energy_saving_vs_8bit=at_least(2.0, unit="ratio"),
                 compression_vs_32bit=at_least(5.0, unit="ratio", note="the same claim read against 32-bit float",
                                               baseline="compression_vs_32bit_6bit",
                                               baseline_label="homogeneous 6-bit"),
                 energy_saving_vs_32bit=at_least(2.0, unit="ratio", baseline="energy_saving_vs_32bit_8bit",
                                                 baseline_label="homogeneous 8-bit")),
    "Q6": _entry("QUANOS vs iso-compression baseline, strong white-box attacks", NB07, "abstract",
                 **{f"{metric}_vs_iso": at_least(0.10, unit="points", paper="> +10%") for metric in _SCORED_GAINS}),
    "Q7": _entry("QUANOS + PGD adversarial training vs PGD adversarial training alone", NB07, "abstract",
                 **{f"{metric}_with_adv_training": at_least(0.05, unit="points", paper="+5–16%")
                    for metric in _SCORED_GAINS}),
}


def claimed(exp_id, metric):
    """The paper's value for ``metric`` of experiment ``exp_id``, or None where it reports none."""
    claim = PAPER[exp_id]["claims"].get(metric)
    return claim.value if claim is not None else None
