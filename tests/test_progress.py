"""A progress bar leaves no line behind in a saved notebook, whether its loop ran out or stopped early."""

import os

import nbformat
from nbclient import NotebookClient

LOOPS = """\
from quanos_lib import progress
with progress.bar(range(50), desc="training", unit="epoch") as epochs:
    for epoch in epochs:
        if epoch == 3:  # an early stop
            break
with progress.bar(range(5), desc="attacking", unit="model") as models:
    for model in models:
        pass
print("done")
"""


def _outputs_text(notebook):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            yield output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))


def test_a_saved_notebook_keeps_no_progress_line(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LOOPS)])
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment: bars on, as for a reader
    try:
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    texts = list(_outputs_text(notebook))
    assert any("done" in t for t in texts)  # the cell ran
    assert not [t for t in texts if "%|" in t or "it/s" in t or "epoch" in t], texts
