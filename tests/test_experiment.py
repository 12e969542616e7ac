import json

import pandas as pd
import pytest

from quanos_lib import experiment, profiles, results, training, zoo


@pytest.mark.parametrize("eps, text", [(8 / 255, "8/255"), (1 / 255, "1/255"), (64 / 255, "64/255"),
                                       (0.25, "0.25"), (0.2, "0.2"), (0.0, "0"), (0.1, "0.1")])
def test_eps_reads_as_a_reader_knows_it(eps, text):
    assert profiles.eps_text(eps) == text


def test_scale_table_is_readable_markdown():
    table = experiment.scale_table({"eps": 8 / 255, "attack_eps": [2 / 255, 8 / 255], "train_size": None,
                                    "lr": 0.05, "paper_init": False}, columns=2)
    lines = table.splitlines()
    assert lines[0] == "| setting | value | setting | value |" and len(lines) == 2 + 3
    assert "`attack_eps` | 2/255, 8/255" in table and "`train_size` | all" in table and "`paper_init` | no" in table


def test_unverified_data_gets_a_banner_and_no_machine_path():
    text = experiment.data_text({"name": "CIFAR-10 (unverified copy)", "verified": False, "fingerprint": "abc",
                                 "notice": "A stand-in.", "train_size": 10, "test_size": 5, "source": "cifar"})
    assert text.startswith("> ⚠️ **Data: CIFAR-10 (unverified copy).**") and "`abc`" in text
    assert "not on the official dataset" in text and "/" not in text.replace("/255", "")


def test_a_record_names_the_models_training_configuration_and_time(monkeypatch, capsys):
    monkeypatch.setenv("QUANOS_PROFILE", "smoke")
    run = experiment.start("cpu", "linear", "mnist")  # QUANOS_PROFILE wins, as in the test suite
    assert run.name == "smoke" and len(run.data.train) == run.scale["train_size"]
    assert "**Profile `smoke`**" in capsys.readouterr().out
    model, history = zoo.softmax_regression(run.data, run.scale, epochs=1)
    with run.record("F1", eps=run.scale["eps"]) as r:
        assert r.models({"softmax": (model, history)}) == {"softmax": model}
        r.metric("adv_error", 0.5)
    entry = results.load("F1", "smoke")
    trained = entry["setup"]["models"]["softmax"]
    assert trained["config"] == json.loads(json.dumps(training.TrainConfig(epochs=1, **zoo.LINEAR_RECIPE).asdict()))
    assert trained["checkpoint"] == history["checkpoint"] and trained["epochs_run"] == 1
    assert "epoch_kept" not in trained  # a fixed budget without validation keeps no epoch
    # where it was trained, which the result's own compute (the machine that wrote it) need not be
    assert trained["trained_on"] == history["trained_on"] and trained["trained_on"]["cpu"] == training.cpu_name()
    assert entry["training_seconds"] == pytest.approx(history["seconds"], abs=0.01)
    assert entry["setup"]["scale"] == json.loads(json.dumps(run.scale)) and entry["setup"]["eps"] == 0.25
    assert entry["data"]["source"] == "MNIST/raw" and run.recorded == ["F1"]
    assert "| F1 |" not in capsys.readouterr().out  # recording shows nothing: the scorecard, once, at the end
    run.scorecard()
    shown = capsys.readouterr().out
    assert "| F1 | adv error | 99.90% | 50.00% |" in shown, shown
    early_stopped = dict(history, loss=[0.3, 0.2, 0.25], best_epoch=1)  # 0-based in the history
    with experiment.Run("smoke", "linear", "mnist").record("F1", eps=run.scale["eps"]) as r:
        r.models({"softmax": (model, early_stopped)})
        r.metric("adv_error", 0.5)
    assert results.load("F1", "smoke")["setup"]["models"]["softmax"]["epoch_kept"] == 2  # 1-based, as the prose


def test_a_failed_block_records_nothing(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "smoke")
    run = experiment.Run("smoke", "linear", "mnist")
    with pytest.raises(ZeroDivisionError):
        with run.record("F4") as r:
            r.metric("clean_error", 1 / 0)
    assert results.load("F4", "smoke") is None


def test_a_variant_suffixes_metrics_parts_and_figures(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "smoke")
    run = experiment.Run("smoke", "linear", "mnist", variant="other")
    with run.record("Q4") as r:
        r.metric("robustness_gain_vs_8bit", 0.01)
    entry = json.loads((results.results_dir("smoke") / "Q4.other.json").read_text())
    assert list(entry["metrics"]) == ["robustness_gain_vs_8bit_other"] and entry["part"] == "other"
    with run.record("Q6", part="front") as r:  # a part of a variant's result: beside the main run's part, too
        r.metric("front_margin", 0.0)
    assert json.loads((results.results_dir("smoke") / "Q6.front.other.json").read_text())["part"] == "front.other"


def test_training_table_says_what_ended_each_run():
    history = {"loss": [1.0] * 3, "val_error": [0.3, 0.2, 0.25], "best_epoch": 1, "seconds": 60.0,
               "config": {"epochs": 5, "patience": 1}}
    table = experiment.training_table({"stopped": (None, history),
                                       "capped": (None, dict(history, config={"epochs": 3, "patience": 1})),
                                       "fixed": (None, dict(history, best_epoch=None, val_error=[]))})
    assert table["stopped by"].to_dict() == {"stopped": "patience", "capped": "cap", "fixed": "fixed"}
    assert table.at["stopped", "kept epoch"] == 2 and table.at["stopped", "validation error"] == 0.2
    assert table.at["stopped", "minutes"] == 1.0


def test_experiments_measured_together_share_models_setup_and_time(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "smoke")
    run = experiment.Run("smoke", "linear", "mnist")
    model, history = zoo.softmax_regression(run.data, run.scale, epochs=1)
    with run.record("F6", "F9", eps=0.25) as (f6, f9):
        f6.models({"naive": (model, history)})
        f6.metric("naive_clean_error", 0.01)
        f9.table(pd.DataFrame({"adv error": {0.5: 0.9}}), name="x_{row}_{column}")
    f6_entry, f9_entry = results.load("F6", "smoke"), results.load("F9", "smoke")
    assert list(f9_entry["metrics"]) == ["x_0.5_adv_error"] and list(f6_entry["metrics"]) == ["naive_clean_error"]
    assert f6_entry["setup"] == f9_entry["setup"] and "naive" in f9_entry["setup"]["models"]
    assert f6_entry["seconds"] == f9_entry["seconds"]
