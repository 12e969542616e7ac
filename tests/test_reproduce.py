import json
import pathlib
import subprocess

import pytest

from quanos_lib import checkpoints, notebook_hygiene, readme_tables, reproduce, result_check, results, training

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "reproduce.sh"


@pytest.mark.parametrize("args", [["--bogus"], ["--profile", "gpu"], ["--only", "1"], ["--profile"],
                                  ["--threads", "0"], ["--threads", "two"], ["--threads=-1"], ["--threads"],
                                  ["--check"], ["--check", "smoke"], ["--check", "cpu", "--out", "x"],
                                  ["--check", "cpu", "--profile", "cpu"], ["--check", "cpu", "--only", "1"], ["--keep"]])
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


@pytest.mark.parametrize("args, says", [(["--threads", "0"], "positive whole number, not '0'"),
                                        (["--threads", "-2"], "positive whole number, not '-2'"),
                                        (["--threads", "2.5"], "positive whole number, not '2.5'"),
                                        (["--check", "smoke"], "--check takes cpu or full"),
                                        (["--check", "cpu", "--out", "x"], "no --profile and no --out"),
                                        (["--check", "full", "--profile", "full"], "no --profile and no --out"),
                                        (["--check", "cpu", "--only", "42"], "no notebook numbered 42"),
                                        (["--check"], "expected one argument"),
                                        (["--keep"], "--keep goes with --check"),
                                        (["--bogus"], "unrecognized arguments: --bogus")])
def test_threads_and_check_usage_errors_through_the_runner_are_one_line(args, says, capsys, monkeypatch):
    monkeypatch.setattr(reproduce, "run", lambda *a, **k: pytest.fail("a usage error must not run notebooks"))
    assert reproduce.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("reproduce.sh: ") and says in err and err.count("\n") == 1


def test_threads_reach_the_run(monkeypatch):
    calls = []
    monkeypatch.setattr(reproduce, "run", lambda *args, **kwargs: calls.append((*args, kwargs)) or 0)
    assert reproduce.main(["--profile", "cpu", "--only", "01", "--threads", "3"]) == 0
    assert reproduce.main([]) == 0
    assert reproduce.main(["--profile", "smoke", "--only", "02", "--no-scorecard"]) == 0  # a workflow's notebook job
    assert calls == [("cpu", ["01"], None, 3, {}), ("auto", None, None, None, {}),
                     ("smoke", ["02"], None, None, {"scorecard": False})]


def test_figures_have_one_folder_per_profile(monkeypatch):
    monkeypatch.delenv("QUANOS_OUT")
    assert results.figures_dir("cpu") == results.PROJECT_ROOT / "figures" / "cpu"
    assert results.figures_dir("full") == results.PROJECT_ROOT / "figures" / "full"
    monkeypatch.setenv("QUANOS_OUT", "/scratch/run")
    assert results.figures_dir("full") == pathlib.Path("/scratch/run/figures/full")


def test_in_place_each_profile_writes_its_own_notebooks(tmp_path):
    assert reproduce.notebooks_dir("cpu") == reproduce.NOTEBOOKS
    assert reproduce.notebooks_dir("full") == reproduce.NOTEBOOKS / "full"
    assert reproduce.writes_in_place("cpu") and reproduce.writes_in_place("full")
    assert not reproduce.writes_in_place("smoke") and not reproduce.writes_in_place("full", out=tmp_path)
    assert reproduce.notebooks_dir("full", out=tmp_path) == tmp_path / "notebooks"  # --out: scratch, as before
    assert reproduce.notebooks_dir("smoke") == results.output_root("smoke") / "notebooks"


def test_select_notebooks_ignores_the_full_profiles_outputs():
    assert (reproduce.NOTEBOOKS / "full" / "01_linear_models.ipynb").exists()  # committed outputs of full
    chosen = reproduce.select_notebooks()
    assert {nb.parent for nb in chosen} == {reproduce.NOTEBOOKS}
    assert [nb.name for nb in reproduce.select_notebooks(["01"])] == ["01_linear_models.ipynb", "99_scorecard.ipynb"]


def test_the_test_command_does_not_collect_the_full_profiles_notebooks():
    assert "--ignore=notebooks/full" in SCRIPT.read_text()


def _result(root, name, metrics, profile="cpu", **fields):
    """A result file as results.record writes it, under ``root/results/<profile>/``."""
    folder = root / "results" / profile
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"id": name.split(".")[0], "profile": profile, "device": "cpu", **fields,
             "metrics": {metric: value if isinstance(value, dict) else {"value": value, "paper": None}
                         for metric, value in metrics.items()}}
    (folder / name).write_text(json.dumps(entry))


def test_compare_results_reports_identical_changed_and_missing_files(tmp_path):
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    _result(committed, "F1.json", {"clean_error": 0.0748, "adv_error": 0.9998}, seconds=8.1)
    _result(rerun, "F1.json", {"clean_error": 0.0748, "adv_error": 0.9998}, seconds=9.5)  # only the time differs
    _result(committed, "F4.json", {"clean_error": 0.012, "adv_error": 0.5}, compute={"cpu": "cpu A"})
    _result(rerun, "F4.json", {"clean_error": 0.012, "adv_error": 0.25})
    _result(committed, "F5.linear.json", {"clean_error": 0.02})  # the rerun did not write it
    _result(rerun, "F7.json", {"clean_error": 0.01})  # never committed
    (rerun / "results" / "cpu" / "_runtimes.json").write_text("{}")
    found = result_check.compare_results(committed, rerun, "cpu", device="cpu", cpu="cpu A")
    assert list(found) == ["F1.json", "F4.json", "F5.linear.json", "F7.json"]
    assert found["F1.json"].status == result_check.IDENTICAL and found["F1.json"].line("F1.json") == "F1.json: identical"
    assert found["F4.json"].status == result_check.DIFFERS and found["F4.json"].differences == [("adv_error", 0.5, 0.25)]
    assert found["F4.json"].line("F4.json") == "F4.json: adv_error: 0.5 -> 0.25"
    assert found["F5.linear.json"].status == found["F7.json"].status == result_check.MISSING
    assert "the rerun did not write it" in found["F5.linear.json"].note and "not committed" in found["F7.json"].note
    only = result_check.compare_results(committed, rerun, "cpu", expected={"F1.json"}, device="cpu")
    assert list(only) == ["F1.json", "F4.json", "F7.json"]  # a committed file not expected is not looked for


def test_a_difference_on_another_processor_says_so(tmp_path):
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    _result(committed, "F5.linear.json", {"adv_error": 0.89}, compute={"cpu": "cpu A"})
    _result(committed, "F16.json", {"clean_error": 0.044})  # written before results recorded the processor
    _result(rerun, "F5.linear.json", {"adv_error": 0.85})
    _result(rerun, "F16.json", {"clean_error": 0.0498})
    found = result_check.compare_results(committed, rerun, "cpu", device="cpu", cpu="cpu B")
    assert found["F5.linear.json"].status == result_check.DIFFERS  # still a difference: exit status 1
    assert found["F5.linear.json"].line("F5.linear.json") == (
        "F5.linear.json: adv_error: 0.89 -> 0.85 (computed on another CPU, cpu A; this one is cpu B: trained weights "
        "may differ between processors)")
    assert "its CPU not recorded" in found["F16.json"].note
    assert result_check.compare_results(committed, rerun, "cpu", device="cpu", cpu="cpu A")[
        "F5.linear.json"].note == ""  # on its own processor a difference is only a difference


AMD_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd0c
"""


def test_the_processor_is_named_from_cpuinfo_on_x86_and_arm_and_unknown_elsewhere(monkeypatch):
    assert training.cpu_name(AMD_CPUINFO) == "AuthenticAMD family 26 model 2 (AMD EPYC; avx2 avx512f avx512_bf16)"
    assert training.cpu_name(ARM_CPUINFO).startswith("ARM implementer 0x41 part 0xd0c (")
    assert training.cpu_name("").startswith("unknown (")  # e.g. macOS: no /proc/cpuinfo

    def unreadable(self):
        raise OSError("no such file")

    monkeypatch.setattr(training.pathlib.Path, "read_text", unreadable)
    assert training.cpu_name().startswith("unknown (")


def test_two_unidentified_processors_are_never_the_same_and_a_gpu_check_has_no_cpu_note():
    unknown = training.cpu_name("")
    assert not result_check.same_cpu(unknown, unknown)  # the check's count and its notes use this one rule
    assert result_check.same_cpu("cpu A", "cpu A") and not result_check.same_cpu(None, "cpu A")
    assert "processor not identifiable" in result_check.other_cpu_note({"compute": {"cpu": unknown}}, unknown)
    assert result_check.other_cpu_note({"compute": {"cpu": "cpu A"}}, "cpu A") == ""
    assert result_check.other_cpu_note({"compute": {}}, "") == ""  # a check on a GPU: the processor trains nothing


def test_compare_results_compares_every_stored_measurement_exactly(tmp_path):
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    seeds = {"value": 0.5, "interval": [0.4, 0.6], "seeds": 3, "per_seed": [0.4, 0.5, 0.6], "paper": 0.5}
    _result(committed, "Q4.json", {"gain": seeds, "area": 0.1234565, "gone": 0.3})
    _result(rerun, "Q4.json", {"gain": dict(seeds, interval=[0.4, 0.600001], paper=0.9), "area": 0.1234566, "new": 0.2})
    assert result_check.compare_results(committed, rerun, "cpu", device="cpu")["Q4.json"].differences == [
        ("gain (interval)", [0.4, 0.6], [0.4, 0.600001]), ("area", 0.1234565, 0.1234566),
        ("gone", 0.3, result_check._ABSENT), ("new", result_check._ABSENT, 0.2)]  # the paper's value is not a measurement


def test_compare_results_skips_results_computed_on_another_kind_of_device(tmp_path):
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    _result(committed, "F1.json", {"adv_error": 1.0}, profile="full", device="cuda: NVIDIA H100 80GB HBM3")
    _result(rerun, "F1.json", {"adv_error": 0.9}, profile="full", device="cpu")
    on_cpu = result_check.compare_results(committed, rerun, "full", device="cpu")["F1.json"]
    assert on_cpu.status == result_check.SKIPPED and on_cpu.differences == []
    assert on_cpu.line("F1.json") == ("F1.json: skipped (computed on cuda: NVIDIA H100 80GB HBM3, "
                                      "compared only on a cuda machine)")
    on_another_gpu = result_check.compare_results(committed, rerun, "full", device="cuda: NVIDIA H200")["F1.json"]
    assert on_another_gpu.status == result_check.DIFFERS and on_another_gpu.differences == [("adv_error", 1.0, 0.9)]
    _result(committed, "F4.json", {"adv_error": 1.0}, profile="full")
    _result(rerun, "F4.json", {"adv_error": 1.0}, profile="full")
    assert result_check.compare_results(committed, rerun, "full", device="cuda: NVIDIA H200")["F4.json"].status == \
        result_check.SKIPPED  # computed on the CPU


def test_expected_results_are_the_committed_files_of_the_chosen_notebooks(tmp_path):
    for name in ("F1.json", "F2.json", "F5.linear.json", "F5.maxout.json", "F9.json", "F9.masking.json"):
        _result(tmp_path, name, {"x": 0.0})
    assert result_check.expected_results([pathlib.Path("01_linear_models.ipynb")], tmp_path, "cpu") == \
        {"F1.json", "F5.linear.json"}  # F5's linear part only: its maxout part is notebook 03's
    assert result_check.expected_results([pathlib.Path("03_adversarial_training.ipynb")], tmp_path, "cpu") == \
        {"F5.maxout.json", "F9.json", "F9.masking.json"}


def test_check_pins_the_recorded_threads_and_says_so():
    assert result_check.check_threads({2: ["F1.json", "F4.json"]}, None, default=2) == (2, None)
    threads, note = result_check.check_threads({2: ["F1.json"]}, None, default=16)
    assert threads == 2 and "QUANOS_THREADS=2" in note and "default here is 16" in note
    threads, note = result_check.check_threads({2: ["F1.json", "F4.json"], 4: ["F2.json"]}, None, default=16)
    assert threads == 2 and "2 in 2 file(s), 4 in 1 file(s)" in note
    threads, note = result_check.check_threads({2: ["F1.json"]}, 8, default=16)
    assert threads == 8 and "--threads 8" in note and "recorded 2" in note
    assert result_check.check_threads({}, None, default=16)[0] is None


def test_check_reruns_into_a_scratch_folder_and_compares(tmp_path, monkeypatch, capsys):
    committed = tmp_path / "project"
    _result(committed, "F1.json", {"adv_error": 0.5}, compute={"threads": 3, "torch": "x", "cpu": "cpu A"})
    _result(committed, "F4.json", {"adv_error": 0.1}, compute={"threads": 3, "torch": "x"})
    _result(committed, "F2.json", {"adv_error": 0.7})  # notebook 02's: not looked for
    monkeypatch.setattr(results, "PROJECT_ROOT", committed)
    monkeypatch.setattr(training, "device_name", lambda device=None: "cpu")
    monkeypatch.setattr(training, "cpu_name", lambda: "cpu A")
    monkeypatch.setenv("QUANOS_THREADS", "1")
    monkeypatch.setenv("QUANOS_PROFILE", "cpu")
    runs = []

    def fake_run(profile, only, out, threads):
        runs.append((profile, only, threads, out))
        _result(pathlib.Path(out), "F1.json", {"adv_error": 0.5 if len(runs) == 1 else 0.25})
        _result(pathlib.Path(out), "F4.json", {"adv_error": 0.1})
        if len(runs) == 2:  # the second rerun trains a model into the cache
            checkpoints.cache_dir().mkdir(parents=True, exist_ok=True)
            (checkpoints.cache_dir() / "check-trained-0123.pt").write_bytes(b"")
        return 0
    monkeypatch.setattr(reproduce, "run", fake_run)
    assert reproduce.check("cpu", ["01"], keep=True) == 0
    out = capsys.readouterr().out
    assert "pinning QUANOS_THREADS=3" in out and "default here is 1" in out
    assert ("1 of 2 committed file(s) were computed on another or an unidentifiable CPU, or record none (this one: "
            "cpu A)") in out
    assert "the rerun trained 0 model(s) and read the others from the cache" in out
    assert "F1.json: identical\nF4.json: identical\n" in out and "F2.json" not in out
    assert runs[0][:3] == ("cpu", ["01"], 3) and runs[0][3].exists() and f"kept: {runs[0][3]}" in out
    assert reproduce.check("cpu", ["01"]) == 1
    out = capsys.readouterr().out
    assert "F1.json: adv_error: 0.5 -> 0.25\n" in out and "1 of 2 compared file(s) identical" in out
    assert "the rerun trained 1 model(s)" in out
    (checkpoints.cache_dir() / "check-trained-0123.pt").unlink()
    assert runs[1][3] != runs[0][3] and not runs[1][3].exists()  # a fresh scratch folder each time, then removed


def test_notebook_07_runs_again_on_cifar100_into_its_own_output():
    assert "07_quanos_cifar100" not in [nb.stem for nb in reproduce.select_notebooks()]  # an output, not a source
    planned = [(source.stem, output, extra)
               for source, output, extra in reproduce.runs(reproduce.select_notebooks(["07"]))]
    assert planned[:2] == [("07_quanos_cifar10", "07_quanos_cifar10.ipynb", {}),
                           ("07_quanos_cifar10", "07_quanos_cifar100.ipynb", {"dataset": "cifar100"})]
    assert planned[-1][0] == "99_scorecard"


def test_a_variant_without_its_data_names_its_source_and_says_once_it_was_not_run(tmp_path):
    import nbformat
    source = reproduce.NOTEBOOKS / "07_quanos_cifar10.ipynb"
    notebook_hygiene.not_run_notebook(source, "cifar100", tmp_path / "out.ipynb")
    cells = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells
    assert cells[0].cell_type == "markdown" and "`07_quanos_cifar10.ipynb`" in cells[0].source
    assert len(cells[0].source) < 300  # the source's introduction is not repeated
    assert "parameters" in cells[-3].metadata["tags"]  # after the parameters: the loading attempt and the note
    assert cells[-2].cell_type == "code" and "data.load(dataset)" in cells[-2].source
    assert cells[-1].cell_type == "markdown" and "CIFAR-100 could not be had" in cells[-1].source
    assert "not available" not in cells[-1].source  # said once, by the loading attempt's own message
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
    bar.outputs = [nbformat.v4.new_output("display_data", {notebook_hygiene.WIDGET_OUTPUT: {"model_id": f"w{noise}"},
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
    notebook_hygiene.clean_notebook(first)
    notebook_hygiene.clean_notebook(second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert "/machine/" not in text and "papermill" not in text and "iopub" not in text
    assert "injected-parameters" not in text and 'profile = \\"cpu\\"' not in text  # the parameters cell rules
    assert 'id=\\"T_table_0\\"' in text
    assert "widget" not in text and "0/10" not in text and "trained in 12.0 min" in text  # no stuck progress bar
    _executed_notebook(first, 1)
    notebook_hygiene.clean_notebook(first, keep_parameters={"dataset": "cifar100"})  # a variant keeps its own parameters
    text = first.read_text()
    assert 'dataset = \\"cifar100\\"' in text and 'profile = \\"cpu\\"' not in text
    assert "<pandas.io.formats.style.Styler>" in text and " at 0x" not in text


def test_runtimes_keep_training_and_cached_runs_apart_and_make_the_readme_table():
    readme_tables.record_runtimes("cpu", {"01_x": {"seconds": 600.0, "cpus": 2, "models_trained": 3, "code_version": "a"}})
    readme_tables.record_runtimes("cpu", {"01_x": {"seconds": 30.0, "cpus": 2, "models_trained": 0, "code_version": "b"}})
    readme_tables.record_runtimes("cpu", {"01_x": {"seconds": 36.0, "cpus": 2, "models_trained": 0, "code_version": "c"}})
    table = readme_tables.runtimes_markdown()
    assert "| 01_x | `cpu` | 10.0 min (2 CPUs, 3 models trained) | 0.6 min (2 CPUs) |" in table
    assert "| all | `full` | not measured yet | not measured yet |" in table


def test_committed_notebooks_carry_no_widgets_and_no_injected_parameters():
    """A saved progress bar shows as a stuck "0%" line in any static view, and an injected `profile = "cpu"` under
    `profile = "auto"` would make Run All ignore the parameters cell: the runner strips both (clean_notebook)."""
    import nbformat
    for path in sorted([*reproduce.NOTEBOOKS.glob("*.ipynb"), *(reproduce.NOTEBOOKS / "full").glob("*.ipynb")]):
        notebook = nbformat.read(str(path), as_version=4)
        assert "widgets" not in notebook.metadata, path.name
        for cell in notebook.cells:
            injected = "injected-parameters" in cell.metadata.get("tags", [])
            assert not (injected and "profile" in cell.source), path.name  # only a variant's own parameters stay
            assert not any(notebook_hygiene.WIDGET_OUTPUT in output.get("data", {}) for output in cell.get("outputs", [])), path.name
