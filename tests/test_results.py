import json
import math

import pytest

from quanos_lib import paper, results


def test_record_round_trips_with_the_papers_value_beside_ours():
    path = results.record("F1", "cpu", {"adv_error": 0.9996, "extra": float("nan")},
                          setup={"epochs": 1}, data={"name": "MNIST", "verified": True}, seed=3, seconds=1.234)
    assert path == results.results_dir("cpu") / "F1.json"
    loaded = results.load("F1", "cpu")
    assert loaded == json.loads(path.read_text())
    assert loaded["metrics"]["adv_error"] == {"value": 0.9996, "paper": 0.999, "claim": "paper 99.90%; ours ±5.0 pts"}
    assert loaded["metrics"]["extra"] == {"value": None, "paper": None}
    assert (loaded["id"], loaded["profile"], loaded["seed"], loaded["seconds"]) == ("F1", "cpu", 3, 1.23)
    assert set(loaded) >= {"setup", "data", "code_version"}
    assert not list(path.parent.glob("*.partial"))


def test_unknown_id_is_refused():
    with pytest.raises(KeyError):
        results.record("F99", "cpu", {}, setup={}, data={}, seed=0, seconds=0)


def test_scorecard_statuses():
    results.record("F4", "cpu", {"clean_error": 0.018, "adv_error": 0.80}, setup={}, data={}, seed=0, seconds=0)
    rows = {r["metric"]: r for r in results.scorecard("cpu", ["F4"])}
    assert rows["clean_error"]["status"] == "reproduced" and rows["clean_error"]["ours"] == "1.80%"
    assert rows["adv_error"]["status"] == "differs"
    assert {r["status"] for r in results.scorecard("cpu", ["F2"])} == {"not run yet"}
    results.record("F5", "cpu", {"logistic_l1_0.0025_adv_error": 0.5}, setup={}, data={}, seed=0, seconds=0)
    assert results.scorecard("cpu", ["F5"])[0]["status"] == "not measured here"
    assert "| F4 |" in results.scorecard_markdown("cpu", ["F4"])
    assert rows["clean_error"]["data"] == "unverified copy"  # its data info does not say verified
    results.record("F4", "cpu", {"clean_error": 0.018}, setup={}, data={"verified": True}, seed=0, seconds=0)
    assert results.scorecard("cpu", ["F4"])[0]["data"] == "official"
    assert results.scorecard("cpu", ["F2"])[0]["data"] == "—"


def test_one_number_format_everywhere():
    assert results.format_value(0.0177) == "1.77%" and results.format_value(0.91388) == "91.39%"
    assert results.format_value(0.004, "points") == "+0.40 pts" and results.format_value(-0.046, "points") == "-4.6 pts"
    assert results.format_value(-0.000215, "points") == "-0.02 pts"  # an interval's end near 0 keeps its sign
    from quanos_lib.formatting import format_interval
    assert format_interval({"value": -0.037, "interval": [-0.08, 0.0063]}, "points") == "-3.7 pts [-8.0 pts, +0.6 pts]"
    assert format_interval({"value": 0.0011, "interval": [-0.000215, 0.0024]}, "points") == \
        "+0.11 pts [-0.02 pts, +0.24 pts]"  # one number of decimals for the three
    assert results.format_value(1.6543, "ratio") == "1.65×" and results.format_value(None) == "—"
    assert results.format_value(-0.00002, "points") == "0.00 pts"  # never "-0.00"
    assert [results.format_value(v, "number") for v in (6.76e-05, 10123.4, 0.998, 1.5)] == [
        "0.0000676", "10,123", "0.998", "1.5"]  # no e-notation
    assert results.metric_words("pgd_at_2_255_gain_vs_8bit") == "pgd at 2/255 gain vs 8-bit"
    assert results.metric_words("train_error_l1_0_0025") == "train error l1 0.0025"
    assert paper.PAPER["Q5"]["claims"]["compression_vs_8bit"].paper_text() == "≥ 5.00×"
    q4 = paper.PAPER["Q4"]["claims"]["pgd_area_gain_vs_8bit"]
    assert (q4.paper_text(), q4.rule_text()) == ("+3–4%", "≥ +3.0 pts")  # the paper's words; our reading, apart
    assert paper.PAPER["F1"]["claims"]["adv_error"].rule_text() == "±5.0 pts"  # our tolerance, in points
    with pytest.raises(ValueError):
        results.format_value(1.0, "furlongs")


def test_the_whole_scorecard_opens_with_a_count_per_status():
    results.record("F4", "cpu", {"clean_error": 0.018, "adv_error": 0.80}, setup={}, data={}, seed=0, seconds=0)
    first = results.scorecard_markdown("cpu").splitlines()[0]
    rows = results.scorecard("cpu")
    assert first.startswith(f"**cpu**, {len(rows)} rows: ") and "1 reproduced" in first and "1 differs" in first
    assert f"{sum(r['status'] == 'not run yet' for r in rows)} not run yet" in first


def test_smoke_outputs_never_land_in_the_project(monkeypatch):
    monkeypatch.delenv("QUANOS_OUT")
    assert results.output_root("smoke") != results.PROJECT_ROOT
    assert results.output_root("cpu") == results.PROJECT_ROOT


def test_paper_holds_every_experiment_id_once():
    assert list(paper.PAPER) == [f"F{i}" for i in range(1, 22)] + [f"Q{i}" for i in range(1, 8)]
    assert paper.PAPER["F1"]["claims"]["adv_error"].value == 0.999


@pytest.mark.parametrize("claim, ours, holds", [
    (paper.approx(0.5, 0.05), 0.54, True), (paper.approx(0.5, 0.05), 0.56, False),
    (paper.at_least(5.0), 5.0, True), (paper.at_least(5.0), 4.9, False),
    (paper.between(0.05, 0.16), 0.1, True), (paper.between(0.05, 0.16), 0.2, False),
])
def test_claims(claim, ours, holds):
    assert claim.holds(ours) is holds and not math.isnan(claim.value)


def test_code_version_is_fixed_for_a_whole_run(monkeypatch):
    monkeypatch.setenv("QUANOS_CODE_VERSION", "abc1234")
    path = results.record("F1", "cpu", {"adv_error": 1.0}, setup={}, data={}, seed=0, seconds=0)
    assert json.loads(path.read_text())["code_version"] == "abc1234"


def test_an_experiment_recorded_in_parts_is_loaded_whole():
    results.record("F5", "cpu", {"logistic_l1_0.0025_adv_error": 0.48}, setup={}, data={}, seed=0, seconds=0,
                   part="linear")
    results.record("F5", "cpu", {"train_error_l1_0_0025": 0.89}, setup={}, data={}, seed=0, seconds=0, part="maxout")
    loaded = results.load("F5", "cpu")
    assert set(loaded["metrics"]) == {"logistic_l1_0.0025_adv_error", "train_error_l1_0_0025"}
    assert set(loaded["parts"]) == {"linear", "maxout"}
    assert results.scorecard("cpu", ["F5"])[0]["status"] == "reproduced"
    assert results.load("F50", "cpu") is None  # F5's parts are not F50's


def test_a_rerun_that_reproduces_a_result_keeps_its_file(monkeypatch):
    monkeypatch.setenv("QUANOS_CODE_VERSION", "first")
    path = results.record("F1", "cpu", {"adv_error": 0.5}, setup={"a": 1}, data={}, seed=0, seconds=1.0)
    monkeypatch.setenv("QUANOS_CODE_VERSION", "second")
    results.record("F1", "cpu", {"adv_error": 0.5}, setup={"a": 1}, data={}, seed=0, seconds=9.0)
    assert json.loads(path.read_text())["code_version"] == "first"  # same numbers: the first record stays
    results.record("F1", "cpu", {"adv_error": 0.6}, setup={"a": 1}, data={}, seed=0, seconds=9.0)
    assert json.loads(path.read_text())["code_version"] == "second"


def test_a_metric_over_seeds_is_its_mean_with_a_student_t_interval():
    summary = results.over_seeds([0.10, 0.12, 0.14])
    assert summary["value"] == pytest.approx(0.12) and summary["seeds"] == 3
    half = 4.303 * 0.02 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert summary["interval"] == pytest.approx([0.12 - half, 0.12 + half])
    with pytest.raises(ValueError, match="two seeds"):
        results.over_seeds([0.1])
    split = results.over_seeds([0.025, 0.888, 0.027], bounds=(0, 1))  # seeds with two outcomes: a rate stays a rate
    assert split["interval"] == [0.0, 1.0] and split["value"] == pytest.approx(0.3133, abs=1e-4)
    assert results.over_seeds([0.025, 0.888, 0.027])["interval"][0] < 0


@pytest.mark.parametrize("per_seed, status", [
    ([0.055, 0.056, 0.054], "reproduced"),   # Q7: a gain of at least 5 points, all of the interval
    ([0.00, 0.01, 0.005], "differs"),        # all of it below
    ([0.03, 0.07, 0.05], "inconclusive"),    # straddles the edge
])
def test_scorecard_judges_a_claim_on_the_interval(per_seed, status):
    results.record("Q7", "cpu", {"pgd_area_gain_with_adv_training": results.over_seeds(per_seed)}, setup={}, data={},
                   seed=0, seconds=0)
    stored = results.load("Q7", "cpu")["metrics"]["pgd_area_gain_with_adv_training"]
    assert stored["seeds"] == 3 and len(stored["interval"]) == 2 and stored["paper"] == 0.05
    row = results.scorecard("cpu", ["Q7"])[0]
    assert row["status"] == status and "3 seeds" in row["ours"]


def _record(exp_id, metrics):
    results.record(exp_id, "cpu", metrics, setup={}, data={}, seed=0, seconds=0)
    return {row["metric"]: row for row in results.scorecard("cpu", [exp_id])}


def test_a_claim_a_trivial_baseline_passes_too_is_vacuous_and_not_counted_as_reproduced():
    rows = _record("F18", {"targeted_frog_success": 1.0, "targeted_frog_success_no_step": 0.99})
    assert rows["targeted_frog_success"]["status"] == "vacuous" and "99.00%" in rows["targeted_frog_success"]["why"]
    rows = _record("F18", {"targeted_frog_success": 1.0, "targeted_frog_success_no_step": 0.30})
    assert rows["targeted_frog_success"]["status"] == "reproduced"  # the step did it
    rows = _record("F18", {"targeted_frog_success": 1.0})
    assert rows["targeted_frog_success"]["status"] == "not measured here"  # no vacuity test, no verdict
    rows = _record("F18", {"targeted_frog_success": 0.5, "targeted_frog_success_no_step": 0.99})
    assert rows["targeted_frog_success"]["status"] == "differs"  # a failure stands, whatever the baseline does


def test_a_claim_true_by_construction_is_structural_with_its_reason():
    rows = _record("F17", {"rbf_error": 0.0})
    assert rows["rbf_error"]["status"] == "structural" and "ln 2" in rows["rbf_error"]["why"]


def test_a_claim_at_iso_accuracy_is_not_comparable_where_one_seed_misses_it():
    gains = results.over_seeds([0.05, 0.04, 0.045])
    met = {"pgd_area_gain_vs_8bit": gains, "val_accuracy_vs_8bit_ours": results.over_seeds([0.760, 0.770, 0.765]),
           "val_accuracy_vs_8bit_baseline": results.over_seeds([0.765, 0.772, 0.760])}
    assert _record("Q4", met)["pgd_area_gain_vs_8bit"]["status"] == "reproduced"
    missed = dict(met, val_accuracy_vs_8bit_ours=results.over_seeds([0.760, 0.750, 0.765]))  # seed 1: -2.2 pts
    row = _record("Q4", missed)["pgd_area_gain_vs_8bit"]
    assert row["status"] == "not comparable" and "-2.2 pts" in row["why"]


def test_a_trend_holds_or_does_not_by_its_written_rule():
    rows = _record("F19", {"min_r2_right": 0.99, "min_r2_left": 0.90, "true_class_band_width": 0.6})
    assert [rows[m]["status"] for m in ("min_r2_right", "min_r2_left", "true_class_band_width")] == [
        "holds", "does not hold", "holds"]
    assert rows["min_r2_right"]["rule"] == "≥ 0.95"
    rows = _record("Q1", {"ans_conv1_1": 0.1, "ans_conv1_2": 0.5})  # a derived number: the largest ANS / the smallest
    assert rows["ans_spread"]["ours"] == "5.00×" and rows["ans_spread"]["status"] == "holds"


def test_one_legend_names_every_status_and_the_count_line_uses_them():
    legend = results.status_legend()
    assert all(f"**{status}**" in legend for status in results.STATUSES)
    _record("F18", {"targeted_frog_success": 1.0, "targeted_frog_success_no_step": 0.99})
    whole = results.scorecard_markdown("cpu")
    assert "1 vacuous" in whole.splitlines()[0] and "reproduced" not in whole.splitlines()[0]
    assert whole.endswith(legend) and results.scorecard_markdown("cpu", ["F18"]).endswith(legend)


@pytest.mark.parametrize("claim, interval, holds", [
    (paper.approx(0.5, 0.05), (0.46, 0.54), True), (paper.approx(0.5, 0.05), (0.56, 0.6), False),
    (paper.approx(0.5, 0.05), (0.5, 0.6), None), (paper.at_least(5.0), (5.0, 6.0), True),
    (paper.at_least(5.0), (3.0, 4.9), False), (paper.at_least(5.0), (4.9, 5.1), None),
    (paper.at_most(0.1), (0.0, 0.1), True), (paper.between(0.05, 0.16), (0.17, 0.2), False),
])
def test_claims_on_an_interval(claim, interval, holds):
    assert claim.holds_on(*interval) is holds


def test_a_notebooks_compact_scorecard_fits_a_page_with_its_notes_once():
    _record("F18", {"targeted_frog_success": 1.0, "targeted_frog_success_no_step": 0.99, "frog_share": 0.5})
    text = results.scorecard_markdown("cpu", ["F18"], compact=True)
    header = next(line for line in text.splitlines() if line.startswith("| id"))
    assert header == "| id | metric | paper | ours (cpu) | our tolerance or test | status |"
    assert "| F18 | targeted frog success | 100.00% | 100.00% | ±5.0 pts | vacuous (1) |" in text
    assert "\n1. No step (eps 0) gets 99.00% and passes too." in text and text.count("Rubbish examples") == 1
    full = results.scorecard_markdown("full", ran_only=True)
    assert "rows not run yet are not listed" in full.splitlines()[0] and "not run yet |" not in full



def test_the_full_scorecard_names_notebooks_by_a_linked_number_so_its_column_stays_narrow():
    readme = results.scorecard_markdown("cpu", ["F5"], legend=False)
    assert "| [01](notebooks/01_linear_models.ipynb) (linear), [03](notebooks/03_adversarial_training.ipynb) (maxout) |" \
        in readme
    beside = results.scorecard_markdown("cpu", ["F5"], legend=False, notebooks="")  # notebook 99, in notebooks/
    assert "[03](03_adversarial_training.ipynb)" in beside and "| 03_adversarial_training" not in beside
