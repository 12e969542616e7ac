import pandas as pd
import pytest
import torch
from torch import nn

from quanos_lib import data, protocol

SCALE = {"curve_eps": [0.01, 0.02, 0.04], "area_max_eps": 0.02, "gain_eps": [0.01], "eps": 0.04, "pgd_steps": 5,
         "masking_eps": [0.0, 0.3]}


def _threshold_model():
    """Class 1 iff the pixel is above 0.5, with a margin proportional to the distance: any attack of size eps
    flips exactly the images closer than eps to 0.5 (FGSM and PGD alike)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[-10.0], [10.0]]))
        model[1].bias.copy_(torch.tensor([5.0, -5.0]))
    return model.eval()


def _split():
    distances = torch.tensor([0.005, 0.015, 0.03, 0.05])
    x = torch.cat([0.5 + distances, 0.5 - distances]).reshape(-1, 1, 1, 1)
    return data.Split(x, torch.tensor([1] * 4 + [0] * 4))


def test_curves_and_summary_on_a_model_whose_robustness_is_known():
    curves = protocol.curves(_threshold_model(), _split(), SCALE, seed=3, transfer={eps: _split().x for eps in SCALE["curve_eps"]})
    expected = {0.0: 1.0, 0.01: 0.75, 0.02: 0.5, 0.04: 0.25}
    assert curves["FGSM"] == pytest.approx(expected) and curves["PGD-5"] == pytest.approx(expected)
    assert curves["transfer PGD-5"] == pytest.approx({0.0: 1.0, 0.01: 1.0, 0.02: 1.0, 0.04: 1.0})  # clean images "transferred"
    row = protocol.summary(curves, SCALE)
    # trapezoid over (0, 1), (0.01, 0.75), (0.02, 0.5), divided by 0.02
    assert row["PGD area"] == pytest.approx(0.75) and row["PGD 0.01"] == 0.75 and row["PGD 0.04"] == 0.25
    assert row["clean"] == 1.0 and row["transfer area"] == 1.0
    assert protocol.scored_columns(SCALE) == ["PGD area", "PGD 0.01"]


def test_metric_names_of_the_scored_columns():
    assert protocol.metric_name("PGD area") == "pgd_area"
    assert protocol.metric_name("PGD 2/255") == "pgd_at_2_255"
    assert protocol.metric_name("transfer area") == "transfer_area"


def _tables():
    return {seed: pd.DataFrame({"clean": {"ours": 0.80, "base": clean}, "PGD area": {"ours": 0.30 + gain, "base": 0.30}})
            for seed, (gain, clean) in enumerate([(0.01, 0.805), (0.03, 0.79), (0.05, 0.80)])}


def test_gains_compare_seed_by_seed_and_carry_the_interval():
    gain = protocol.gains(_tables(), "ours", "base", ["PGD area"])["PGD area"]
    assert gain["value"] == pytest.approx(0.03) and gain["per_seed"] == pytest.approx([0.01, 0.03, 0.05])
    half = 4.303 * 0.02 / 3 ** 0.5  # Student-t, 2 degrees of freedom; sd of 0.01, 0.03, 0.05 is 0.02
    assert gain["interval"] == pytest.approx([0.03 - half, 0.03 + half])
    metrics = protocol.gain_metrics(_tables(), "ours", "base", "vs_base", ["PGD area"])
    assert set(metrics) == {"pgd_area_gain_vs_base", "clean_accuracy_vs_base_ours", "clean_accuracy_vs_base_baseline"}
    assert metrics["clean_accuracy_vs_base_baseline"]["value"] == pytest.approx(0.79833, abs=1e-5)


def test_comparison_says_when_two_models_are_not_at_iso_accuracy():
    tables = _tables()
    assert protocol.comparison(tables, {"c": ("ours", "base")}, ["PGD area"]).at["c", "iso-accuracy"] == "yes"
    for table in tables.values():
        table.at["base", "clean"] = 0.83
    row = protocol.comparison(tables, {"c": ("ours", "base")}, ["PGD area"]).loc["c"]
    assert row["iso-accuracy"] == "no (-3.0 points clean)" and row["gain, PGD area"] == "+3.0 pts [-2.0 pts, +8.0 pts]"


def test_masking_checks_extend_the_curves_to_the_largest_eps():
    model, split = _threshold_model(), _split()
    curves = protocol.curves(model, split, SCALE)
    found, checks = protocol.masking_checks(model, split, curves, SCALE, chance=0.5)
    assert found["PGD-5"][0.3] == 0.0 and found["FGSM"][0.3] == 0.0
    assert all(checks[name] for name in ("iterative_at_least_as_strong", "pgd_monotone_in_eps", "reaches_chance"))


def test_margin_over_the_front_interpolates_in_log_cost():
    table = pd.DataFrame({"size (kbit)": [1.0, 100.0, 10.0, 1000.0, 10.0],
                          "PGD area": [0.1, 0.3, 0.35, 0.9, 0.25],
                          "family": ["homogeneous", "homogeneous", "QUANOS", "QUANOS", "32-bit float"]},
                         index=["2-bit", "8-bit", "QUANOS", "QUANOS (far)", "32-bit float"])
    margins = protocol.margin_over_front(table)
    assert margins["QUANOS"] == pytest.approx(0.35 - 0.2)  # halfway in log size between 0.1 and 0.3
    assert margins["QUANOS (far)"] is None  # beyond the front's largest model


def test_front_table_joins_costs_and_robustness_and_names_the_families():
    costs = pd.DataFrame({"size (kbit)": [1.0, 2.0, 3.0]}, index=["2-bit", "QUANOS (ANS at 1/255)", "32-bit float"])
    summary = pd.DataFrame({"PGD area": [0.1, 0.2, 0.3]}, index=["2-bit", "QUANOS (ANS at 1/255)", "32-bit float"])
    table = protocol.front_table(summary, costs)
    assert table["family"].tolist() == ["homogeneous", "QUANOS", "32-bit float"] and table.at["2-bit", "PGD area"] == 0.1


def test_a_protocol_whose_scored_eps_is_not_measured_is_refused():
    curves = protocol.curves(_threshold_model(), _split(), SCALE)
    with pytest.raises(ValueError, match="gain eps"):
        protocol.summary(curves, dict(SCALE, gain_eps=[0.03]))


def _history(val_errors, snapshots=(), best=None):
    best = min(range(len(val_errors)), key=val_errors.__getitem__) if best is None else best
    return {"val_error": val_errors, "best_epoch": best, "snapshots": {str(e): {} for e in snapshots}}


def test_iso_accuracy_is_recorded_per_seed_on_validation_accuracy():
    compared = {0: {"ours": (None, _history([0.30, 0.24])), "base": (None, _history([0.25, 0.22]))},
                1: {"ours": (None, _history([0.26, 0.28])), "base": (None, _history([0.21, 0.23]))}}
    found = protocol.validation_accuracy_metrics(compared, "ours", "base", "vs_x")
    assert found["val_accuracy_vs_x_ours"]["per_seed"] == pytest.approx([0.76, 0.74])  # the kept epochs' accuracies
    assert found["val_accuracy_vs_x_baseline"]["per_seed"] == pytest.approx([0.78, 0.79])


def test_the_matched_epoch_comes_from_the_validation_curve_and_may_not_exist():
    history = _history([0.40, 0.30, 0.24, 0.22], snapshots=(1, 2, 3, 4))
    assert protocol.matched_epoch(history, 0.755, tol=0.01) == 3  # 76% at epoch 3, nearest to 75.5%
    assert protocol.matched_epoch(history, 0.50, tol=0.01) is None  # no epoch within a point of 50%
    assert protocol.matched_epoch(_history([0.40, 0.24], snapshots=(2,)), 0.60, tol=0.01) is None  # only kept weights


def test_the_worst_case_over_the_suite_and_the_scored_attacks_overstatement():
    per_attack = {protocol.SCORED: torch.tensor([True, True, True, False]),
                  "a": torch.tensor([True, False, True, False]), "b": torch.tensor([True, True, False, False])}
    assert protocol.strongest(per_attack).tolist() == [True, False, False, False]
    gap = protocol.attack_gap(per_attack, resamples=200)
    assert gap["value"] == pytest.approx(0.75 - 0.25) and gap["interval"][0] <= gap["value"] <= gap["interval"][1]
    table = protocol.strong_attack_table({"model": {0.01: per_attack}})
    assert table.loc[("model", "0.01"), "worst case over the suite"] == 0.25


def test_front_margins_get_a_bootstrap_interval_over_the_test_images():
    scale = {"curve_eps": [0.01, 0.02], "area_max_eps": 0.02, "pgd_steps": 5}
    n = 40
    g = torch.Generator().manual_seed(0)
    correct = lambda rate: torch.rand(n, generator=g) < rate  # noqa: E731
    curves = {label: {"PGD-5": {0.0: correct(1.0), 0.01: correct(r), 0.02: correct(r / 2)}}
              for label, r in {"2-bit": 0.2, "8-bit": 0.6, "QUANOS": 0.5}.items()}
    table = pd.DataFrame({"size (kbit)": [10.0, 40.0, 20.0], "family": ["homogeneous", "homogeneous", "QUANOS"],
                          "PGD area": [0.0, 0.0, 0.0]}, index=list(curves))
    found = protocol.margin_intervals(table, curves, scale, resamples=200)
    areas = {label: protocol.evaluation.robustness_area(
        {eps: c.float().mean().item() for eps, c in curve["PGD-5"].items()}, 0.02) for label, curve in curves.items()}
    point = protocol.margin_over_front(table.assign(**{"PGD area": pd.Series(areas)}))["QUANOS"]
    low, high = found["QUANOS"]["interval"]
    assert found["QUANOS"]["value"] == pytest.approx(point) and low < point < high and high - low > 0.01


def test_the_protocol_log_lists_only_changes_with_their_results_before_and_after():
    from quanos_lib import protocol_log

    def result(width, alpha, gain):
        setup = {"scale": {"width": width, "pgd_steps": 10},
                 "models": {"32-bit float + PGD adv. training": {"config": {"adv_alpha": alpha, "adv_kind": "pgd"}}}}
        return {"setup": setup, "metrics": {"pgd_area_gain_vs_8bit": {"value": gain}}}

    entries = [{"date": d, "commit": c, "why": c, "settings": protocol_log.settings(result(w, a, g), result(w, a, g), ""),
                "results": protocol_log.headlines(result(w, a, g), result(w, a, g))}
               for d, c, w, a, g in (("1", "a", 0.25, 0.0, 0.01), ("2", "b", 0.25, 0.0, 0.02), ("3", "c", 0.125, 0.5, 0.0))]
    log = protocol_log.changes(entries)
    assert [entry["commit"] for entry in log] == ["a", "c"]  # b changed no setting: a rerun, not a change
    assert log[1]["changed"] == {"width": [0.25, 0.125], "its alpha (clean term)": [0.0, 0.5]}
    assert log[1]["before"]["Q4 gain (PGD area)"] == 0.02 and log[1]["results"]["Q4 gain (PGD area)"] == 0.0
    table = protocol_log.table(log)
    assert "width: 0.25 → 0.125" in table.at[1, "what changed"]
