import pytest

from quanos_lib import energy, estimates, models, profiles


def test_the_vgg_checkpoints_work_scales_with_width_squared_epochs_and_images():
    cpu, full = profiles.SCALES["cpu"]["vgg"], profiles.SCALES["full"]["vgg"]
    _, cpu_train, _ = estimates.work("06_ans_vgg19", "cpu")
    _, full_train, _ = estimates.work("06_ans_vgg19", "full")
    macs = {w: sum(energy.mac_counts(models.VGG19(width=w)).values()) for w in (cpu["width"], full["width"])}
    assert full_train / cpu_train == pytest.approx(macs[1.0] / macs[0.125] * full["epochs"] / cpu["epochs"])
    assert 50 < macs[1.0] / macs[0.125] < 70  # about width squared (64)


def test_an_estimate_scales_the_measured_cpu_time_and_divides_by_the_assumed_speedup():
    runtimes = {"training": {"seconds": 600.0}, "cached": {"seconds": 60.0}}
    family, full_train, full_eval = estimates.work("05_conv_maxout_cifar10", "full")
    _, cpu_train, cpu_eval = estimates.work("05_conv_maxout_cifar10", "cpu")
    expected = (540 * full_train / cpu_train + 60 * full_eval / cpu_eval) / 60 / estimates.gpu_speedup(family)
    assert estimates.estimate_minutes("05_conv_maxout_cifar10", runtimes) == pytest.approx(expected)
    # the linear models are the same at cpu and full: only the speed-up changes the time
    assert estimates.estimate_minutes("01_linear_models", runtimes) == pytest.approx(10 / estimates.gpu_speedup("mlp"))
    # models trained beforehand into the cache: their recorded training time stands in for the run's
    cached_only = {"cached": {"seconds": 60.0}}
    assert estimates.estimate_minutes("05_conv_maxout_cifar10", cached_only, training_seconds=540.0) == pytest.approx(expected)
    assert estimates.estimate_minutes("99_scorecard", runtimes) is None
    assert estimates.estimate_minutes("05_conv_maxout_cifar10", {}) is None


def test_the_readme_table_shows_the_full_estimates(tmp_path, monkeypatch):
    import json

    from quanos_lib import reproduce, results
    monkeypatch.setenv("QUANOS_OUT", str(tmp_path))
    folder = results.results_dir("cpu")
    folder.mkdir(parents=True)
    (folder / "_runtimes.json").write_text(json.dumps({"05_conv_maxout_cifar10": {"training": {
        "seconds": 1500.0, "cpus": 2, "models_trained": 1, "code_version": "abc"}}}))
    table = reproduce.runtimes_markdown()
    minutes = estimates.estimate_minutes("05_conv_maxout_cifar10", {"training": {"seconds": 1500.0}})
    assert "Estimated `full` time on one GPU" in table and f"05_conv_maxout_cifar10 ~{minutes:.0f} min" in table


def test_the_estimate_reads_the_full_profile_even_while_a_run_forces_another(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "cpu")  # as reproduce.sh sets it while it runs
    _, full_train, _ = estimates.work("05_conv_maxout_cifar10", "full")
    _, cpu_train, _ = estimates.work("05_conv_maxout_cifar10", "cpu")
    assert full_train / cpu_train > 100
