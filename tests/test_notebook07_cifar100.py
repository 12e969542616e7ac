"""Notebook 07's CIFAR-100 code path, at smoke, on a tiny CIFAR-100 the test writes in the official format
(no CIFAR-100 is available on the machines that run the tests)."""
import json

import jupyter_client
import pytest
import torchvision

from cifar_files import write_cifar
from quanos_lib import reproduce


def _has_kernel():
    return reproduce.KERNEL in jupyter_client.kernelspec.find_kernel_specs()


@pytest.mark.skipif(not _has_kernel(), reason="the project's Jupyter kernel is registered by ./reproduce.sh --setup")
def test_notebook_07_runs_on_cifar100_and_records_its_results_beside_cifar10s(tmp_path, monkeypatch):
    import papermill
    write_cifar(tmp_path / "data", torchvision.datasets.CIFAR100, n_train=500, n_test=200, classes=100)
    out = tmp_path / "out"
    for name, value in {"QUANOS_DATA": tmp_path / "data", "QUANOS_OUT": out, "QUANOS_CACHE": tmp_path / "cache",
                        "QUANOS_PROFILE": "smoke", "TQDM_DISABLE": "1"}.items():
        monkeypatch.setenv(name, str(value))
    papermill.execute_notebook(str(reproduce.NOTEBOOKS / "07_quanos_cifar10.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters={"profile": "smoke", "dataset": "cifar100"}, kernel_name=reproduce.KERNEL,
                               cwd=str(reproduce.NOTEBOOKS), progress_bar=False)
    q4 = json.loads((out / "results" / "smoke" / "Q4.cifar100.json").read_text())
    assert q4["data"]["name"] == "CIFAR-100 (unverified copy)" and q4["part"] == "cifar100"
    assert set(q4["metrics"]) >= {"pgd_area_gain_vs_8bit_cifar100", "clean_accuracy_vs_8bit_ours_cifar100"}
    assert not (out / "results" / "smoke" / "Q4.json").exists()  # CIFAR-10's result is left alone
    assert (out / "figures" / "smoke" / "Q4_robustness_cifar100.png").exists()
