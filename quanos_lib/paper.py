"""Every value the two papers report, once, keyed by experiment id (see shared REFERENCE.md).

``PAPER[id]`` holds the experiment's title, the notebook that reproduces it, where the paper states
it, and its claims: ``{metric: Claim}``. A claim is one of

- ``approx(value, tol)``: ours is "reproduced" when ``|ours - value| <= tol``;
- ``at_least(value)`` / ``at_most(value)``: a bound ("more than 5x");
- ``between(low, high)``: a range ("about 5-16%").

Rates and confidences are fractions in [0, 1]. The tolerances are ours: wide enough for the
run-to-run spread of a reimplementation, narrow enough that a different result shows as "differs".
Experiments whose claim is a picture or a trend have no claims; their status is "see notebook".
QUANOS values come from the abstract only (the full text is not available): shape, not exact numbers.
"""
from dataclasses import dataclass

# The papers' own settings, named once and used everywhere (never written as literals elsewhere).
FGSM_EPS_MNIST = 0.25    # the FGSM paper's eps on MNIST pixels in [0, 1] (F1, F2, F4, F6-F17)
FGSM_EPS_CIFAR10 = 0.1   # ... on CIFAR-10 in the maxout paper's GCN + ZCA preprocessed space (F3, F18)
FGSM_CLIP = None         # the FGSM paper's x + eps * sign(grad) on MNIST is not clipped to [0, 1] (scored as such)
ADV_ALPHA = 0.5          # the FGSM paper's adversarial objective: alpha * J(x) + (1 - alpha) * J(x_adv)
FGSM_EPS_IMAGENET = 0.007  # Figure 1 on GoogLeNet's [-1, 1] inputs: one 8-bit step (2/255, which the paper gives as 0.007)
FGSM_EPS_IMAGENET_PIXELS = 1 / 255  # ... the same 8-bit step on pixels in [0, 1], the eps we score (quanos_lib.imagenet)
QUANOS_K_INITIAL = 16    # QUANOS's bit rule k_l = k_initial - round(k_initial * ANS_l)


@dataclass(frozen=True)
class Claim:
    kind: str            # "approx", "at_least", "at_most", "between"
    value: float
    high: float = None   # upper end for "between"
    tol: float = 0.0     # for "approx"
    unit: str = "percent"  # how its values read (quanos_lib.results.format_value): percent, points (a gain), ratio
    note: str = ""

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

    def text(self):
        from .results import format_value  # results reads this module
        fmt = lambda v: format_value(v, self.unit)  # noqa: E731
        if self.kind == "approx":
            return f"{fmt(self.value)} (±{fmt(self.tol)})"
        if self.kind == "between":
            return f"{fmt(self.value)}–{fmt(self.high)}"
        return f"{'≥' if self.kind == 'at_least' else '≤'} {fmt(self.value)}"


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

PAPER = {
    "F1": _entry("FGSM eps=0.25 on a shallow softmax, MNIST", NB01, "tex:333",
                 adv_error=approx(0.999), adv_confidence=approx(0.793)),
    "F2": _entry("FGSM eps=0.25 on a maxout network, MNIST", NB02, "tex:338",
                 adv_error=approx(0.894), adv_confidence=approx(0.976)),
    "F3": _entry("FGSM eps=0.1 on conv maxout, CIFAR-10 (preprocessed)", NB05, "tex:340",
                 adv_error=approx(0.8715), adv_confidence_on_errors=approx(0.966)),
    "F4": _entry("Logistic regression, MNIST 3 vs 7: clean -> FGSM eps=0.25", NB01, "tex:454-456",
                 clean_error=approx(0.016, 0.01), adv_error=approx(0.99)),
    "F5": _entry("L1 weight decay instead of adversarial training", f"{NB01} (linear), {NB03} (maxout)",
                 "tex:429-432",
                 train_error_l1_0_0025=at_least(0.05, note="maxout, L1 on the first layer (notebook 03); "
                                                "notebook 01 shows the linear case")),
    "F6": _entry("Adversarial training of maxout (alpha=0.5, eps=0.25): clean error", NB03, "tex:488-494",
                 naive_clean_error=approx(0.0094, CLEAN_TOL), adv_trained_clean_error=approx(0.0084, CLEAN_TOL)),
    "F7": _entry("Maxout 1600 units, no adversarial training: clean error", NB03, "tex:500",
                 clean_error=approx(0.0114, CLEAN_TOL)),
    "F8": _entry("Maxout 1600 units + adversarial training, 5 seeds: clean error", NB03, "tex:497-512",
                 clean_error_mean=approx(0.00782, CLEAN_TOL)),
    "F9": _entry("FGSM eps=0.25 error: naive -> adversarially trained maxout", NB03, "tex:514",
                 naive_adv_error=approx(0.894), adv_trained_adv_error=approx(0.179)),
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
                  softmax_same_class=approx(0.546), rbf_same_class=approx(0.160),
                  softmax_misclassified=approx(0.846), rbf_misclassified=approx(0.543),
                  rbf_softmax_agreement=approx(0.536)),
    "F15": _entry("Ensemble of 12 maxout networks under FGSM", NB04, "tex:819-824",
                  ensemble_adv_error=approx(0.911), member_adv_error=approx(0.879)),
    "F16": _entry("MP-DBM under FGSM", NB09, "tex:794-800",
                  clean_error=approx(0.0088, CLEAN_TOL), adv_error=approx(0.975)),
    "F17": _entry("Rubbish examples N(0, I) on MNIST models (any class p > 0.5)", NB04, "tex:905-923",
                  maxout_error=approx(0.9835), maxout_confidence=approx(0.928),
                  sigmoid_error=approx(0.68), sigmoid_confidence=approx(0.879),
                  softmax_error=approx(0.598), softmax_confidence=approx(0.708),
                  rbf_error=approx(0.0, 0.01)),
    "F18": _entry("Rubbish examples N(0, I_3072) on conv maxout, CIFAR-10; one targeted sign step per class",
                  NB05, "tex:911-912 (targeted: the paper's rubbish-class section)",
                  error=approx(0.934), confidence=approx(0.844),
                  frog_share=approx(0.5, 0.15, note="'about half' of the rubbish examples are frogs"),
                  targeted_mean_success=approx(0.753), targeted_airplane_success=approx(0.247),
                  targeted_frog_success=approx(1.0), targeted_truck_success=approx(1.0)),
    "F19": _entry("Linearity: softmax arguments along the FGSM direction (Fig. 4)", NB02, "tex:768"),
    "F20": _entry("First-layer filters, naive vs adversarially trained (Fig. 3)", NB03, "tex:523"),
    "F21": _entry("Panda -> gibbon on GoogLeNet (Fig. 1)", NB08, "tex:364-383",
                  clean_confidence=approx(0.577), adv_confidence=approx(0.993)),
    "Q1": _entry("ANS per layer of a partially trained VGG-19, CIFAR-10", NB06, "abstract, slides"),
    "Q2": _entry("ANS-guided layer removal of VGG-19", NB06, "abstract, slides"),
    "Q3": _entry("QUANOS bit widths from ANS (k_initial = 16)", NB06, "abstract, slides"),
    # Q4, Q6, Q7 are scored by notebook 07's protocol (quanos_lib.protocol): the area under the PGD accuracy-vs-eps
    # curve over [0, 8/255] and the PGD accuracy at 2/255 and 4/255, as gains over the baseline (mean and 95%
    # interval over seeds). The abstract gives each gain as a range or a bound; a claim holds where the whole
    # interval reaches the range's lower end.
    "Q4": _entry("QUANOS vs homogeneous 8-bit at iso-accuracy: robustness gain", NB07, "abstract",
                 **{f"{metric}_vs_8bit": at_least(0.03, unit="points", note="paper: +3–4%") for metric in _SCORED_GAINS}),
    "Q5": _entry("QUANOS compression and energy vs 8-bit (and vs 32-bit float)", NB07, "abstract",
                 compression_vs_8bit=at_least(5.0, unit="ratio", note="the abstract's baseline is 8-bit; with "
                                              "the 2-bit floor at most compression_cap_vs_8bit"),
                 energy_saving_vs_8bit=at_least(2.0, unit="ratio"),
                 compression_vs_32bit=at_least(5.0, unit="ratio", note="the same claim read against 32-bit float"),
                 energy_saving_vs_32bit=at_least(2.0, unit="ratio")),
    "Q6": _entry("QUANOS vs iso-compression baseline, strong white-box attacks", NB07, "abstract",
                 **{f"{metric}_vs_iso": at_least(0.10, unit="points", note="paper: > +10%") for metric in _SCORED_GAINS}),
    "Q7": _entry("QUANOS + PGD adversarial training vs PGD adversarial training alone", NB07, "abstract",
                 **{f"{metric}_with_adv_training": at_least(0.05, unit="points", note="paper: +5–16%") for metric in _SCORED_GAINS}),
}


def claimed(exp_id, metric):
    """The paper's value for ``metric`` of experiment ``exp_id``, or None where it reports none."""
    claim = PAPER[exp_id]["claims"].get(metric)
    return claim.value if claim is not None else None
