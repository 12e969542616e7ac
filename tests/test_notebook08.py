"""Notebook 08 (Figure 1), offline: in full at smoke on a synthetic photograph and a randomly initialised GoogLeNet
placed where torchvision's download would put its weights; and, without them, the runner's one-sentence notebook
that keeps the notebook's own cells."""
import json

import jupyter_client
import nbformat
import pytest
import torch
import torchvision
from PIL import Image

from quanos_lib import imagenet, notebook_hygiene, reproduce

SOURCE = reproduce.NOTEBOOKS / "08_panda_googlenet.ipynb"


def _has_kernel():
    return reproduce.KERNEL in jupyter_client.kernelspec.find_kernel_specs()


def test_without_its_data_the_notebook_says_so_and_keeps_its_cells_for_the_next_run(tmp_path):
    written = tmp_path / "08.ipynb"
    notebook_hygiene.not_run_notebook(SOURCE, "imagenet-panda", written, keep_cells=True)
    notebook_hygiene.append_unexecuted(written, SOURCE)
    notebook = nbformat.read(str(written), as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    notices = [i for i, t in enumerate(tags) if notebook_hygiene.NOT_RUN_NOTICE in t]
    assert len(notices) == 2 and "Not run here" in notebook.cells[notices[1]].source
    assert "The ImageNet panda" in notebook.cells[notices[1]].source  # capitalised
    assert "$QUANOS_DATA" not in notebook.cells[notices[1]].source  # the weights live in torch's cache
    kept = [cell for cell, t in zip(notebook.cells, tags) if notebook_hygiene.NOT_RUN in t]
    assert kept and all("nbval-skip" in cell.metadata["tags"] for cell in kept)  # CI cannot run them offline
    assert all(not cell.get("outputs") for cell in kept if cell.cell_type == "code")
    original = notebook_hygiene.restored(nbformat.read(str(SOURCE), as_version=4))
    again = notebook_hygiene.restored(notebook)
    assert [cell.source for cell in again.cells] == [cell.source for cell in original.cells]
    assert not any(notebook_hygiene.NOT_RUN in cell.metadata.get("tags", []) for cell in again.cells)


@pytest.mark.skipif(not _has_kernel(), reason="the project's Jupyter kernel is registered by ./reproduce.sh --setup")
def test_notebook_08_runs_and_records_f21(tmp_path, monkeypatch):
    import papermill
    folder = tmp_path / "data" / "imagenet-panda"
    folder.mkdir(parents=True)
    image = torch.randint(0, 256, (300, 400, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    Image.fromarray(image.numpy()).save(folder / imagenet.PANDA_FILE)
    weights = tmp_path / "torch" / "hub" / "checkpoints" / imagenet.WEIGHTS.url.rsplit("/", 1)[1]
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False).state_dict(), weights)
    out = tmp_path / "out"
    for name, value in {"QUANOS_DATA": tmp_path / "data", "QUANOS_OUT": out, "TORCH_HOME": tmp_path / "torch",
                        "QUANOS_PROFILE": "smoke", "TQDM_DISABLE": "1"}.items():
        monkeypatch.setenv(name, str(value))
    source = tmp_path / "source.ipynb"
    nbformat.write(notebook_hygiene.restored(nbformat.read(str(SOURCE), as_version=4)), str(source))
    papermill.execute_notebook(str(source), str(tmp_path / "run.ipynb"), parameters={"profile": "smoke"},
                               kernel_name=reproduce.KERNEL, cwd=str(reproduce.NOTEBOOKS), progress_bar=False)
    f21 = json.loads((out / "results" / "smoke" / "F21.json").read_text())
    assert set(f21["metrics"]) == {"clean_confidence", "adv_confidence"}
    assert f21["metrics"]["clean_confidence"]["paper"] == 0.577 and f21["setup"]["eps"] == 1 / 255
    assert len(f21["setup"]["image_sha256"]) == 64 and not f21["data"]["verified"]
    curve = json.loads((out / "results" / "smoke" / "F21.curve.json").read_text())
    assert "flip_eps" in curve["metrics"]
    assert (out / "figures" / "smoke" / "F21_panda_gibbon.png").exists() and (out / "figures" / "smoke" / "F21_confidence_vs_eps.png").exists()
