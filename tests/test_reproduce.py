import pathlib
import subprocess

import pytest

from quanos_lib import reproduce

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "reproduce.sh"


@pytest.mark.parametrize("args", [["--bogus"], ["--profile", "gpu"], ["--only", "1"], ["--profile"]])
def test_wrong_flag_gives_one_line_of_usage(args):
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: ./reproduce.sh") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr + done.stdout


def test_select_notebooks_runs_the_scorecard_last_and_rejects_unknown_numbers():
    chosen = [nb.name[:2] for nb in reproduce.select_notebooks(["01"])]
    assert chosen == ["01", "99"]
    assert [nb.name for nb in reproduce.select_notebooks()] == sorted(nb.name for nb in reproduce.select_notebooks())
    with pytest.raises(reproduce.UsageError, match="no notebook numbered 42"):
        reproduce.select_notebooks(["42"])


def test_unknown_number_through_the_runner_is_one_line(capsys):
    assert reproduce.main(["--profile", "smoke", "--only", "42"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_notebook_07_runs_again_on_cifar100_into_its_own_output():
    assert "07_quanos_cifar100" not in [nb.stem for nb in reproduce.select_notebooks()]  # an output, not a source
    planned = [(source.stem, output, extra)
               for source, output, extra in reproduce.runs(reproduce.select_notebooks(["07"]))]
    assert planned[:2] == [("07_quanos_cifar10", "07_quanos_cifar10.ipynb", {}),
                           ("07_quanos_cifar10", "07_quanos_cifar100.ipynb", {"dataset": "cifar100"})]
    assert planned[-1][0] == "99_scorecard"


def test_a_variant_without_its_data_keeps_the_introduction_and_says_it_was_not_run(tmp_path):
    import nbformat
    source = reproduce.NOTEBOOKS / "07_quanos_cifar10.ipynb"
    reproduce.not_run_notebook(source, "cifar100", tmp_path / "out.ipynb")
    cells = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells
    assert "parameters" in cells[-3].metadata["tags"]  # after the parameters: the loading attempt and the note
    assert cells[-2].cell_type == "code" and "data.load(dataset)" in cells[-2].source
    assert cells[-1].cell_type == "markdown" and "CIFAR-100 is not available" in cells[-1].source
    code = [cell for cell in cells if cell.cell_type == "code"]
    assert code[:-1] == [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]  # no other code


def _executed_notebook(path, noise):
    import nbformat
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"input_path": f"/machine/{noise}/in.ipynb", "duration": noise}
    injected = nbformat.v4.new_code_cell('profile = "cpu"')
    injected.metadata.update(tags=["injected-parameters"], execution={"iopub.status.busy": f"2026-01-0{noise}"})
    injected.id = f"random{noise}"
    table = nbformat.v4.new_code_cell("table.style")
    uuid = f"ab{noise}cd"
    table.outputs = [nbformat.v4.new_output("execute_result", {"text/html": f'<table id="T_{uuid}"><th id="T_{uuid}_level0_col0">',
                                                               "text/plain": f"<pandas.io.formats.style.Styler at 0x7f{noise}a0>"},
                                            execution_count=1)]
    table.metadata["papermill"] = {"start_time": f"t{noise}"}
    table.id = "table"
    bar = nbformat.v4.new_code_cell("train()")
    bar.outputs = [nbformat.v4.new_output("display_data", {reproduce.WIDGET_OUTPUT: {"model_id": f"w{noise}"},
                                                           "text/plain": "training: 0%| | 0/10"}),
                   nbformat.v4.new_output("stream", name="stdout", text="trained in 12.0 min")]
    bar.id = "bar"
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {f"w{noise}": {}}}}
    notebook.cells = [injected, table, bar]
    nbformat.write(notebook, str(path))


def test_clean_notebook_strips_per_run_noise_so_reruns_are_byte_identical(tmp_path):
    first, second = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    _executed_notebook(first, 1)
    _executed_notebook(second, 2)
    assert first.read_bytes() != second.read_bytes()
    reproduce.clean_notebook(first)
    reproduce.clean_notebook(second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert "/machine/" not in text and "papermill" not in text and "iopub" not in text
    assert "injected-parameters" not in text and 'profile = \\"cpu\\"' not in text  # the parameters cell rules
    assert 'id=\\"T_table_0\\"' in text
    assert "widget" not in text and "0/10" not in text and "trained in 12.0 min" in text  # no stuck progress bar
    _executed_notebook(first, 1)
    reproduce.clean_notebook(first, keep_parameters={"dataset": "cifar100"})  # a variant keeps its own parameters
    text = first.read_text()
    assert "dataset = 'cifar100'" in text and 'profile = \\"cpu\\"' not in text
    assert "<pandas.io.formats.style.Styler>" in text and " at 0x" not in text


def test_runtimes_keep_training_and_cached_runs_apart_and_make_the_readme_table():
    reproduce._record_runtimes("cpu", {"01_x": {"seconds": 600.0, "cpus": 2, "models_trained": 3, "code_version": "a"}})
    reproduce._record_runtimes("cpu", {"01_x": {"seconds": 30.0, "cpus": 2, "models_trained": 0, "code_version": "b"}})
    reproduce._record_runtimes("cpu", {"01_x": {"seconds": 36.0, "cpus": 2, "models_trained": 0, "code_version": "c"}})
    table = reproduce.runtimes_markdown()
    assert "| 01_x | `cpu` | 10.0 min (2 CPUs, 3 models trained) | 0.6 min (2 CPUs) |" in table
    assert "| all | `full` | not measured yet | not measured yet |" in table


def test_committed_notebooks_carry_no_widgets_and_no_injected_parameters():
    """A saved progress bar shows as a stuck "0%" line in any static view, and an injected `profile = "cpu"` under
    `profile = "auto"` would make Run All ignore the parameters cell: the runner strips both (clean_notebook)."""
    import nbformat
    for path in sorted(reproduce.NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        assert "widgets" not in notebook.metadata, path.name
        for cell in notebook.cells:
            injected = "injected-parameters" in cell.metadata.get("tags", [])
            assert not (injected and "profile" in cell.source), path.name  # only a variant's own parameters stay
            assert not any(reproduce.WIDGET_OUTPUT in output.get("data", {}) for output in cell.get("outputs", [])), path.name
