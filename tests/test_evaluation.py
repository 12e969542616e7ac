import pytest
import torch

from quanos_lib import attacks, data, evaluation, models


def test_summarize_error_and_confidence():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    y = torch.tensor([0, 0, 0])
    summary = evaluation.summarize(probs, y)
    assert abs(summary["error"] - 1 / 3) < 1e-6
    assert abs(summary["confidence"] - (0.9 + 0.7 + 0.6) / 3) < 1e-6
    assert abs(summary["confidence_on_errors"] - 0.7) < 1e-6


def test_targeted_success_rates_on_a_linear_model():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    with torch.no_grad():
        model.linear.weight.normal_()
    samples = torch.randn(200, 1, 4, 4)
    untouched = evaluation.targeted_success_rates(model, samples, 3, 0.0, criterion="argmax")
    assert sum(untouched) == pytest.approx(1.0)  # eps = 0: just the share predicted as each class
    stepped = evaluation.targeted_success_rates(model, samples, 3, 2.0, criterion="argmax")
    assert all(after > before for after, before in zip(stepped, untouched))  # each step moves toward its class
    half = evaluation.targeted_success_rates(model, samples, 3, 2.0)  # the paper's: at least 50% probability
    assert all(h <= a for h, a in zip(half, stepped))  # at least half the probability: the prediction too
    for c in range(3):  # ... and is exactly one targeted FGSM step, unclipped
        x_c = attacks.fgsm(model, samples, torch.full((200,), c), 2.0, targeted=True, clip=None)
        assert stepped[c] == pytest.approx((model(x_c).argmax(1) == c).float().mean().item())
        assert half[c] == pytest.approx((model(x_c).softmax(1)[:, c] >= 0.5).float().mean().item())
    assert model.training  # mode restored


def test_pgd_sanity_checks_flag_each_symptom():
    fgsm = {0.0: 0.9, 0.1: 0.5, 0.3: 0.3}
    honest = evaluation.pgd_sanity_checks(fgsm, {0.0: 0.9, 0.1: 0.2, 0.3: 0.0}, {0.1: 0.6}, chance=0.1)
    assert all(honest.values())
    masked = evaluation.pgd_sanity_checks(fgsm, {0.0: 0.9, 0.1: 0.6, 0.3: 0.7}, {0.1: 0.4}, chance=0.1)
    assert not any(check for name, check in masked.items() if name != "fgsm_monotone_in_eps")
    overshoot = evaluation.pgd_sanity_checks({0.0: 0.9, 0.1: 0.1, 0.3: 0.2}, {0.0: 0.9, 0.1: 0.0, 0.3: 0.0},
                                             {0.1: 0.5}, chance=0.1)
    assert not overshoot["fgsm_monotone_in_eps"]  # FGSM's rise alone is no masking:
    assert all(overshoot[name] for name in evaluation.PGD_SANITY_CHECKS)
    assert len(evaluation.PGD_SANITY_CHECKS) == len(overshoot) - 1


def test_scored_attack_checks_flag_a_masked_fgsm_that_the_pgd_sanity_checks_pass():
    # notebook 03's adversarially trained maxout at cpu (results/cpu/F9.masking.json before this change): FGSM at the
    # training eps 0.25 leaves it 94% accurate, 74% at 0.1; PGD-40 0.4%; transfer from the naive network 80%
    masked_fgsm = {0.0: 0.99, 0.1: 0.74, 0.25: 0.94, 0.3: 0.93, 0.5: 0.70}
    pgd = {0.0: 0.99, 0.1: 0.30, 0.25: 0.004, 0.3: 0.0, 0.5: 0.0}
    transfer = {0.25: 0.80}
    assert all(evaluation.pgd_sanity_checks(masked_fgsm, pgd, transfer, chance=0.1)[name]
               for name in evaluation.PGD_SANITY_CHECKS)  # our PGD is sound ...
    masked = evaluation.scored_attack_checks(masked_fgsm, pgd, transfer, 0.25)
    assert set(masked) == set(evaluation.SCORED_ATTACK_CHECKS) and not any(masked.values())  # ... FGSM's is not
    # a naive network: FGSM finds most of what PGD finds, falls with eps, beats transfer
    naive = evaluation.scored_attack_checks({0.0: 0.99, 0.1: 0.60, 0.25: 0.09, 0.5: 0.12},
                                            {0.0: 0.99, 0.1: 0.20, 0.25: 0.004, 0.5: 0.0}, {0.25: 0.36}, 0.25)
    assert all(naive.values())  # FGSM rising again past its eps (0.5) is not held against it


def test_every_check_fails_on_a_model_that_masks_its_gradient_by_construction():
    """A hard input quantizer end to end (round to {0, 1} before a linear layer): every input gradient is 0, so FGSM
    and PGD move nothing, while examples transferred from the same linear layer without the quantizer fool it."""
    torch.manual_seed(0)
    linear = models.SoftmaxRegression(in_features=16, classes=2)

    class Quantized(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = linear

        def forward(self, x):
            return self.linear(torch.round(x))  # d round(x) / dx = 0 almost everywhere

    masked = Quantized()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 4, 4, generator=g) * 0.6 + 0.2
    split = data.Split(x, evaluation.predict(masked, x))  # labels the masked model gets right
    eps_values = [0.0, 0.25, 0.5]
    transfer = {0.5: 1 - evaluation.transfer_error(linear, masked, split, 0.5)}
    curves, checks = evaluation.masking_report(masked, split, eps_values, transfer, 0.5, pgd_steps=5, scored_eps=0.5)
    assert curves["FGSM"][0.5] == 1.0 and curves["PGD-5"][0.5] == 1.0 and transfer[0.5] < 0.9  # nothing moves
    assert not checks["reaches_chance"] and not checks["white_box_at_least_as_strong_as_transfer"]
    assert not checks["scored_at_least_as_strong_as_transfer"]


def test_fgsm_with_predicted_labels_attacks_the_models_own_predictions():
    split = data.Split(torch.arange(3.0).reshape(3, 1, 1, 1), torch.tensor([0, 0, 0]))
    model = Lookup([0, 1, 2])  # right only on example 0
    assert torch.equal(evaluation.attacked(model, split, 0.0, labels="predicted").y, split.y)  # scored on true labels
    seen = {}

    def recording(model, x, y, eps, **kwargs):
        seen["y"] = y
        return x.clone()
    evaluation.attacked(model, split, 0.5, labels="predicted", attack=recording)
    assert seen["y"].tolist() == [0, 1, 2]
    evaluation.attacked(model, split, 0.5, attack=recording)
    assert seen["y"].tolist() == [0, 0, 0]


def test_ensemble_report_attacks_through_the_members_and_votes():
    torch.manual_seed(0)
    members = [models.SoftmaxRegression(in_features=16, classes=3) for _ in range(3)]
    ensemble = models.Ensemble(members).eval()
    x = torch.rand(50, 1, 4, 4)
    split = data.Split(x, evaluation.predict(ensemble, x))
    report = evaluation.ensemble_report(ensemble, split, 0.3, sizes=[1, 3], clip=None)
    assert report["adv_error_members_3"] == evaluation.fgsm_report(ensemble, split, 0.3, clip=None)["adv_error"]
    assert report["adv_error_members_1"] == evaluation.fgsm_report(models.Ensemble(members[:1]), split, 0.3,
                                                                   clip=None)["adv_error"]
    # the mean of the members' cross-entropies: for linear members its gradient's sign is that of the summed weights
    votes = torch.stack([evaluation.predict(m, x) for m in members])
    assert report["clean_error_majority_vote"] == pytest.approx((votes.mode(0).values != split.y).float().mean().item())
    through = attacks.adversarial_examples(models.MemberOutputs(ensemble), x, split.y, 0.3, clip=None,
                                           loss_fn=models.mean_member_cross_entropy)
    expected = sum(torch.nn.functional.cross_entropy(m(x), split.y, reduction="sum") for m in members) / 3
    x_in = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(sum(torch.nn.functional.cross_entropy(m(x_in), split.y, reduction="sum")
                                      for m in members) / 3, x_in)
    assert torch.equal(through, x + 0.3 * grad.sign()) and expected > 0
    assert report["adv_error_mean_cross_entropy_attack"] == evaluation.evaluate(ensemble, data.Split(through, split.y))["error"]


def test_targeted_success_counts_the_target_at_half_probability_or_as_the_prediction():
    model = Lookup([0, 1, 2])  # probabilities of the predicted class exp(5) / (exp(5) + 2) = 0.987
    samples = torch.arange(3.0).reshape(3, 1, 1, 1)
    assert evaluation.targeted_success_rates(model, samples, 3, 0.0) == pytest.approx([1 / 3] * 3)
    assert evaluation.targeted_success_rates(model, samples, 3, 0.0, criterion="argmax") == pytest.approx([1 / 3] * 3)
    three = models.SoftmaxRegression(in_features=1, classes=3)
    with torch.no_grad():  # class 2 is the prediction with 0.45 of the probability: argmax yes, half no
        three.linear.weight.zero_()
        three.linear.bias.copy_(torch.log(torch.tensor([0.3, 0.25, 0.45])))
    one = torch.zeros(1, 1, 1, 1)
    assert evaluation.targeted_success_rates(three, one, 3, 0.0) == [0.0, 0.0, 0.0]
    assert evaluation.targeted_success_rates(three, one, 3, 0.0, criterion="argmax") == [0.0, 0.0, 1.0]


def test_outputs_along_the_fgsm_direction_are_exactly_linear_for_a_linear_model():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    eps = torch.linspace(-15, 15, 31)
    outputs = evaluation.outputs_along_fgsm_direction(model, torch.rand(1, 1, 4, 4), torch.tensor([1]), eps)
    assert outputs.shape == (31, 3)
    assert min(evaluation.linearity_r2(eps, outputs)) > 0.999999
    relu_outputs = torch.relu(outputs)  # piecewise linear with a kink: a straight line no longer explains it all
    assert min(evaluation.linearity_r2(eps, relu_outputs)) < 0.99


def test_rubbish_report_and_concentration():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return self.logits[: len(x)]

    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    report = evaluation.rubbish_report(Fixed(logits), torch.zeros(3, 1))
    assert report["error"] == pytest.approx(2 / 3)
    assert report["confidence"] == pytest.approx((torch.sigmoid(torch.tensor(5.0)) + torch.sigmoid(torch.tensor(3.0))).item() / 2)
    assert evaluation.weight_concentration(torch.tensor([[1.0] + [0.0] * 9]), top=0.1) == pytest.approx(1.0)
    assert evaluation.weight_concentration(torch.ones(2, 10), top=0.1) == pytest.approx(0.1)


def test_rubbish_classes_are_the_shares_of_the_fooled_samples():
    model = models.SoftmaxRegression(in_features=2, classes=3)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 10.0], [0.0, 0.0]]))
        model.linear.bias.zero_()
    samples = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).reshape(4, 1, 1, 2)
    assert evaluation.rubbish_classes(model, samples, 3) == pytest.approx([2 / 3, 1 / 3, 0.0])


class Lookup(torch.nn.Module):
    """A classifier whose prediction for input ``i`` (a one-pixel image holding i) is ``classes[i]``."""

    def __init__(self, classes, count=3):
        super().__init__()
        self.logits = 5 * torch.nn.functional.one_hot(torch.tensor(classes), count).float()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.logits[x.flatten(1)[:, 0].long()] + 0 * self.dummy


def test_agreement_on_errors_in_each_conditioning_the_paper_may_mean():
    split = data.Split(torch.arange(5.0).reshape(5, 1, 1, 1), torch.zeros(5, dtype=torch.long))
    source = Lookup([1, 2, 0, 1, 0])  # wrong on examples 0, 1 and 3, with classes 1, 2, 1
    others = {"a": Lookup([1, 0, 0, 2, 2]), "b": Lookup([1, 0, 1, 1, 2])}  # example 4: both wrong, source right
    report = evaluation.agreement_on_errors(source, others, split, eps=0.0)  # eps 0: the images themselves
    assert report == {"a_misclassified": pytest.approx(2 / 3), "a_same_class": pytest.approx(1 / 3),
                      "a_same_class_both_wrong": pytest.approx(1 / 2),  # a wrong on 0 and 3, source's class on 0
                      "b_misclassified": pytest.approx(2 / 3), "b_same_class": pytest.approx(2 / 3),
                      "b_same_class_both_wrong": pytest.approx(1.0),
                      "a_b_agreement": pytest.approx(2 / 3),  # on 0 and 1 (both right on 1: counted here only)
                      "a_b_agreement_both_wrong": pytest.approx(1 / 2),  # 0 and 3, the same class on 0
                      "a_b_agreement_both_wrong_all": pytest.approx(2 / 3)}  # 0, 3 and 4


def test_robustness_table_transfer_and_curves_on_a_model_whose_accuracy_is_known():
    split = data.Split(torch.arange(4.0).reshape(4, 1, 1, 1), torch.tensor([1, 2, 2, 1]))
    model = Lookup([1, 2, 0, 1])  # right on 3 of 4
    table = evaluation.robustness_table({"m": model}, split, {"FGSM 0": (attacks.fgsm, 0.0, {})},
                                        transfer={"given": split.x[[1, 1, 2, 3]]})
    assert table.loc["m"].to_dict() == {"clean": 0.75, "FGSM 0": 0.75, "given": 0.5}
    assert evaluation.accuracy_curve(model, split, attacks.pgd, [0.0]) == {0.0: 0.75}
    assert evaluation.transfer_error(model, model, split, 0.0) == 0.25


def test_linearity_along_fgsm_finds_where_the_true_class_wins():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    x, y = torch.rand(1, 1, 4, 4), torch.tensor([1])
    eps = torch.linspace(-15, 15, 61)
    report = evaluation.linearity_along_fgsm(model, x, y, eps)
    wins = eps[report["outputs"].argmax(1) == 1]
    assert report["band"] == (float(wins.min()), float(wins.max()))
    assert report["band"][0] <= 0 <= report["band"][1] or model(x).argmax(1).item() != 1
    assert min(report["r2_right"]) > 0.999999 and min(report["r2_left"]) > 0.999999


def test_robustness_area_is_the_mean_accuracy_over_the_eps_range():
    curve = {0.0: 1.0, 0.5: 0.5, 1.0: 0.0, 2.0: 0.0}
    assert evaluation.robustness_area(curve, 1.0) == 0.5
    assert abs(evaluation.robustness_area(curve, 2.0) - 0.25) < 1e-12
    assert evaluation.robustness_area({0.0: 0.7, 0.1: 0.7}, 0.1) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="must include"):
        evaluation.robustness_area({0.1: 1.0, 0.5: 0.5}, 0.5)
    with pytest.raises(ValueError, match="must include"):
        evaluation.robustness_area(curve, 0.75)


def test_validation_error_at_caps_is_the_best_error_early_stopping_would_have_kept():
    history = {"val_error": [0.5, 0.3, 0.4, 0.2, 0.25], "config": {"epochs": 8}}
    assert evaluation.validation_error_at_caps(history) == {1: 0.5, 2: 0.3, 4: 0.2, 8: 0.2}
    assert evaluation.validation_error_at_caps(history, [3]) == {3: 0.3}


def test_attack_suite_and_masking_report_pass_the_clipping_on():
    suite = evaluation.attack_suite([0.25], pgd_steps=3, clip=None)
    assert all(kwargs["clip"] is None for _, _, kwargs in suite.values())
    split = data.Split(torch.full((4, 1, 1, 1), 0.9), torch.tensor([0, 0, 1, 1]))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1, 2))
    with torch.no_grad():  # logits (1.1, x): class 1 only beyond x = 1.1, outside the pixel range
        model[1].weight.copy_(torch.tensor([[0.0], [1.0]]))
        model[1].bias.copy_(torch.tensor([1.1, 0.0]))
    unclipped, _ = evaluation.masking_report(model, split, [0.0, 0.5], {}, 0.5, pgd_steps=2, clip=None)
    clipped, _ = evaluation.masking_report(model, split, [0.0, 0.5], {}, 0.5, pgd_steps=2)
    assert unclipped["FGSM"] == {0.0: 0.5, 0.5: 0.0} and unclipped["PGD-2"][0.5] == 0.0  # pushed past 1.1
    assert clipped["FGSM"] == {0.0: 0.5, 0.5: 0.5} and clipped["PGD-2"][0.5] == 0.5      # stopped at 1.0


def test_loss_gradient_size_is_the_analytic_gradient_of_a_linear_model():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
    split = data.Split(torch.tensor([[[[1.0, 2.0]]], [[[3.0, 4.0]]]]), torch.tensor([0, 0]))
    # Uniform softmax: dJ/dW = mean over examples of (p - onehot) x^T = [[-0.5], [0.5]] * mean(x) = (2, 3)
    size = evaluation.loss_gradient_size(model, split, model[1].weight)
    assert size == pytest.approx({"mean": (1 + 1.5 + 1 + 1.5) / 4, "max": 1.5})
    assert model[1].weight.grad is None


def test_the_inputs_along_the_fgsm_direction_step_by_eps_times_the_gradients_sign():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(1, 1, 4, 4), torch.tensor([1])
    images = evaluation.images_along_fgsm_direction(model, x, y, [-2.0, 0.0, 0.5])
    sign = torch.sign(attacks._loss_gradient(model, x, y))
    assert torch.equal(images[1:2], x)
    assert torch.allclose(images[0:1], x - 2 * sign) and torch.allclose(images[2:3], x + 0.5 * sign)


def test_sign_noise_error_is_the_error_on_the_noisy_images_drawn_once_for_the_split():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    split = data.Split(torch.rand(2500, 1, 4, 4), torch.randint(0, 3, (2500,)))
    noisy = attacks.random_sign(model, split.x, split.y, 0.3, seed=1, clip=None)
    by_hand = (model(noisy).argmax(1) != split.y).float().mean().item()
    assert evaluation.sign_noise_error(model, split, 0.3, seed=1, clip=None) == pytest.approx(by_hand, abs=1e-6)
    assert not torch.equal(noisy[:1000], noisy[1000:2000] - split.x[1000:2000] + split.x[:1000])  # no repeated pattern
