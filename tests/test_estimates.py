import json
import math

import pytest

from quanos_lib import energy, estimates, jobs, models, profiles, readme_tables, training, zoo


def _record(name, build, config, train, val=0):
    network = build()
    return {"name": name, "config": config, "train_images": train, "val_images": val,
            "macs": sum(energy.mac_counts(network, (3, 32, 32) if name.startswith(("vgg", "conv")) else (1, 28, 28)).values()),
            "layers": sum(1 for m in network.modules() if any(True for _ in m.parameters(recurse=False)))}


def test_a_step_counts_the_passes_its_objective_makes():
    assert estimates.step_passes(training.TrainConfig(epochs=1)) == 3  # forward + backward
    fgsm = training.TrainConfig(epochs=1, adv_alpha=0.5)
    assert estimates.step_passes(fgsm) == 9  # FGSM's gradient (3), then the clean and the perturbed term (3 + 3)
    pgd = training.TrainConfig(epochs=1, adv_alpha=0.5, adv_kind="pgd", adv_steps=7)
    assert estimates.step_passes(pgd) == 3 * 7 + 6
    assert estimates.step_passes(training.TrainConfig(epochs=1, adv_alpha=0.5, adv_kind="sign_noise")) == 6
    assert estimates.objective_passes(training.TrainConfig(epochs=1)) == 1  # one forward, no backward
    assert estimates.objective_passes(fgsm) == 3 + 2


@pytest.mark.parametrize("family, name, build, recipe", [
    ("mlp", "maxout240_naive", lambda: models.MaxoutMLP(units=240), zoo.MAXOUT_RECIPE),
    ("vgg", "vgg19_w1", lambda: models.VGG19(width=1.0), zoo.VGG_RECIPE)])
def test_the_benchmarked_epoch_costs_what_was_measured(family, name, build, recipe):
    images, _ = estimates.BENCHMARK_EPOCH[family]
    record = _record(name, build, training.TrainConfig(epochs=1, **recipe), images)
    measured = estimates.GPU_EPOCH_SECONDS[estimates.FAMILY_MODELS[family][1][0]]
    assert estimates.training_seconds(record) == pytest.approx(measured)
    twice = _record(name, build, training.TrainConfig(epochs=2, **recipe), images)
    assert estimates.training_seconds(twice) == pytest.approx(2 * measured)


def test_a_launch_bound_network_costs_its_launches_plus_its_arithmetic():
    config = training.TrainConfig(epochs=1, **zoo.MAXOUT_RECIPE)
    small = _record("maxout240_naive", lambda: models.MaxoutMLP(units=240), config, 50000)
    large = _record("maxout1600_naive", lambda: models.MaxoutMLP(units=1600), config, 50000)
    launch, rate = estimates.gpu_pass_costs("mlp")
    arithmetic = 3 * 50000 * (large["macs"] - small["macs"]) / rate
    assert estimates.training_seconds(large) - estimates.training_seconds(small) == pytest.approx(arithmetic)
    assert 1.0 < estimates.training_seconds(large) / estimates.training_seconds(small) < 1.5  # not 15x, its MACs
    softmax = _record("softmax_regression", models.SoftmaxRegression, config, 50000)
    assert estimates.training_seconds(softmax) == pytest.approx(estimates.training_seconds(small) / 3, rel=0.05)


def test_validation_and_the_continued_phase_are_counted():
    recipe = {**zoo.MAXOUT_RECIPE, "epochs": 10}
    alone = _record("maxout240_naive", lambda: models.MaxoutMLP(units=240), training.TrainConfig(**recipe), 50000)
    validated = {**alone, "val_images": 10000}
    continued = {**validated, "config": training.TrainConfig(**recipe, continue_epochs=5)}
    launch, rate = estimates.gpu_pass_costs("mlp")
    per_pass = 3 * launch * 10 + 10000 * alone["macs"] / rate  # 10 batches of 1000 validation images
    validation = 10 * estimates.validation_passes(alone["config"]) * per_pass
    assert estimates.training_seconds(validated) - estimates.training_seconds(alone) == pytest.approx(validation)
    assert estimates.training_seconds(continued) > estimates.training_seconds(validated) * 1.4  # 5 more epochs on 60k


def test_the_plan_lists_every_model_a_notebook_trains():
    planned = jobs.plan("smoke")
    maxout = profiles.SCALES["smoke"]["maxout"]
    names = [m["name"] for m in planned]
    large = [m for m in planned if m["name"].startswith(f"maxout{maxout['units_large']}_")]
    assert len(large) == 1 + len(maxout["large_seeds"])  # F7's naive net and F8's adversarial seeds
    alone = jobs.plan("smoke", ["04"])
    members = [m for m in alone if m["job"].startswith("04-ensemble-members")]
    assert len(members) == maxout["ensemble_size"]  # run alone, notebook 04 lists all its members ...
    assert len([m for m in planned if m["notebook"].startswith("04") and "member" in m["job"]]) < len(members)
    assert names.count(f"vgg19_w{profiles.SCALES['smoke']['vgg']['width']}") == 1 and any(n.startswith("vgg19_substitute") for n in names)  # ... once here
    assert all(m["macs"] > 0 for m in planned if not m["name"].startswith(("mpdbm", "rbf")))


def test_the_planned_checkpoint_names_are_those_the_committed_results_recorded():
    """The keys of single-model training did not move: planned from the notebooks' own data, every model the
    committed `cpu` results of these notebooks name has the same checkpoint file name."""
    from quanos_lib import results
    notebooks = {"01_linear_models", "02_maxout_fgsm_and_linearity"}
    recorded = {}
    for path in sorted((results.PROJECT_ROOT / "results" / "cpu").glob("[A-Z]*.json")):
        entry = json.loads(path.read_text())
        if entry.get("id") in results.PAPER and results.PAPER[entry["id"]]["notebook"] in notebooks:
            for model in entry.get("setup", {}).get("models", {}).values():
                recorded[model["checkpoint"]] = path.name
    assert len(recorded) >= 10
    planned = {m["checkpoint"] for m in jobs.plan("cpu", sorted(n[:2] for n in notebooks), synthetic=False)}
    assert not set(recorded) - planned, {name: recorded[name] for name in set(recorded) - planned}


def test_the_estimate_adds_the_scaled_attacks_to_the_planned_training(monkeypatch):
    planned = [{"job": "05-conv-maxout", "notebook": "05_conv_maxout_cifar10", "name": "conv_maxout_w1", "config": training.TrainConfig(
        epochs=2, batch_size=128), "train_images": 50000, "val_images": 0, "macs": 10 ** 9, "layers": 9}]
    monkeypatch.setattr(estimates, "planned", lambda profile, notebooks=None: tuple(planned))
    family, full_eval = estimates.evaluation_work("05_conv_maxout_cifar10", "full")
    _, cpu_eval = estimates.evaluation_work("05_conv_maxout_cifar10", "cpu")
    found = estimates.estimate_minutes("05_conv_maxout_cifar10", {"cached": {"seconds": 60.0}})
    assert found["training"] == pytest.approx(estimates.training_seconds(planned[0]) / 60)
    assert found["evaluation"] == pytest.approx(60 * full_eval / cpu_eval / 60 / estimates.gpu_speedup(family))
    assert estimates.estimate_minutes("05_conv_maxout_cifar10", {})["evaluation"] is None
    assert estimates.estimate_minutes("99_scorecard", {}) is None
    assert math.isclose(estimates.total(found), found["training"] + found["evaluation"])


def test_the_readme_table_shows_the_full_estimates(tmp_path, monkeypatch):
    from quanos_lib import results
    monkeypatch.setenv("QUANOS_OUT", str(tmp_path))
    folder = results.results_dir("cpu")
    folder.mkdir(parents=True)
    (folder / "_runtimes.json").write_text(json.dumps({"05_conv_maxout_cifar10": {"cached": {
        "seconds": 60.0, "cpus": 2, "models_trained": 0, "code_version": "abc"}}}))
    monkeypatch.setattr(estimates, "estimate_minutes", lambda name, runtimes: {"training": 90.0, "evaluation": 30.0})
    table = readme_tables.runtimes_markdown()
    assert "Estimated `full` time on one GPU" in table and "upper bounds" in table
    assert "05_conv_maxout_cifar10 ~2 h (~1.5 h of training + ~30 min of attacks)" in table


def test_the_estimate_reads_the_full_profile_even_while_a_run_forces_another(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "cpu")  # as reproduce.sh sets it while it runs
    _, full_eval = estimates.evaluation_work("05_conv_maxout_cifar10", "full")
    _, cpu_eval = estimates.evaluation_work("05_conv_maxout_cifar10", "cpu")
    assert full_eval / cpu_eval > 10
    assert jobs.jobs("full", ["03"])[0].run  # the full profile's jobs, not cpu's
    large = [j.name for j in jobs.jobs("full", ["03"]) if "large" in j.name]
    assert large == ["large naive", "large adversarial seeds"]  # F8's seeds: one job, one stack


def test_a_stacked_run_pays_its_share_of_the_launches_and_all_of_its_arithmetic():
    config = training.TrainConfig(epochs=1, stacked=True, **zoo.MAXOUT_RECIPE)
    small = _record("maxout240_naive", lambda: models.MaxoutMLP(units=240), config, 50000)
    launch, rate = estimates.gpu_pass_costs("mlp")
    arithmetic = 3 * 50000 * small["macs"] / rate
    alone = estimates.training_seconds(dict(small, config=training.TrainConfig(epochs=1, **zoo.MAXOUT_RECIPE)))
    stacked = estimates.training_seconds(small, stack=12)
    share = estimates.STACK_SHARED_LAUNCHES / 12 + estimates.STACK_PER_RUN_LAUNCHES  # its launches, as a share
    assert stacked == pytest.approx(arithmetic + (alone - arithmetic) * share)
    assert estimates.training_seconds(small, stack=1) > alone  # a stack of one pays the per-run launches on top
    members = [dict(small, job="04-ensemble-members") for _ in range(12)]
    assert estimates.training_minutes(members) == pytest.approx(12 * stacked / 60)
    assert estimates.training_minutes([dict(m, config=training.TrainConfig(epochs=1, **zoo.MAXOUT_RECIPE))
                                       for m in members]) == pytest.approx(12 * alone / 60)
    other = [dict(m, name="maxout240_adversarial") for m in members[:4]]  # stacks are grouped by job and network
    assert estimates.training_minutes(members + other) == pytest.approx(
        (12 * stacked + 4 * estimates.training_seconds(small, stack=4)) / 60)
