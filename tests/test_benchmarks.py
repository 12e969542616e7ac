import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check
    return gpu_check


def test_the_gpu_check_runs_end_to_end_in_its_dry_mode(gpu_check, capsys):
    """The prepared GPU check is run for real only when a GPU is lent (rarely): its dry mode, on the CPU at tiny
    sizes, goes through every measurement, so the script cannot rot between loans."""
    report = gpu_check.main(dry=True)
    assert report["dry"] and report["device"] == "cpu" and report["torch"]
    for name in ("maxout16_naive", "maxout16_adversarial"):
        times = report["epoch_seconds"][name]
        assert times["eager"] > 0 and times["compiled"] > 0
    assert report["epoch_seconds"]["maxout16_naive"]["bare"] > 0 and "maxout16_naive ours / bare" in report["ratios"]
    assert report["ratios"]["maxout16_adversarial ours / compute floor"] > 1  # no loop beats its arithmetic
    assert report["stacked_x12"]["maxout16"]["stacked"] > 0 and "maxout16 12 sequential / 12 stacked" in report["ratios"]
    assert report["bitwise"]["weights_equal"] and report["bitwise"]["loss_history_equal"]
    assert report["profile"]["busiest"] and any("mm" in op["op"] for op in report["profile"]["busiest"])


def test_the_gpu_check_refuses_to_pretend_on_a_cpu():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py")], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1].startswith("gpu_check.py: no GPU here")
