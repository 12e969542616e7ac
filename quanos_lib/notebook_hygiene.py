"""What a notebook keeps when the runner saves it: executed notebooks stripped of what changes on every run, and the
notebooks written for data a machine cannot have (the runner, :mod:`quanos_lib.reproduce`, calls these).

- :func:`clean_notebook` strips the per-run noise (execution timestamps, papermill's durations and machine paths,
  styled tables' random ids, memory addresses), widget state and widget outputs (a saved progress bar is a stuck "0%"
  line in any static view) and papermill's injected parameters cell, so that a rerun whose numbers did not change leaves
  ``git diff`` empty and the committed notebook, run top to bottom, does what its parameters cell says.
- :func:`not_run_notebook` writes a notebook that says, once, that its data could not be had (notebook 08 offline,
  notebook 07 on CIFAR-100); :func:`append_unexecuted` keeps the notebook's own cells below it, unexecuted and
  skipped by nbval (tagged ``not-run``); :func:`restored` makes them runnable again for the next run.
"""
import json
import re

NOT_RUN, NOT_RUN_NOTICE = "not-run", "not-run-notice"  # cell tags of a notebook written without its data


def after_parameters(cells):
    """The index just past a notebook's ``parameters`` cell."""
    return next(i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])) + 1


def restored(notebook):
    """``notebook`` (an nbformat node) as its author wrote it: without the cells :func:`not_run_notebook` added, and
    with the cells it kept unexecuted runnable again. Returns the same node."""
    notebook.cells = [cell for cell in notebook.cells if NOT_RUN_NOTICE not in cell.metadata.get("tags", [])]
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if NOT_RUN in tags:
            cell.metadata["tags"] = [tag for tag in tags if tag not in (NOT_RUN, "nbval-skip")]
    return notebook


def not_run_notebook(source, dataset, destination, *, keep_cells=False):
    """Write the introduction and parameters of ``source``, one cell that tries to load ``dataset`` (its
    executed output is the data layer's own message), and one saying that the notebook was not run on it
    because the dataset is unavailable: no result, no invented number. ``keep_cells``: it says that the notebook's
    own cells follow (:func:`append_unexecuted` adds them after this notebook has run)."""
    import nbformat

    from . import data
    notebook = restored(nbformat.read(str(source), as_version=4))
    head = [cell for cell in notebook.cells[:after_parameters(notebook.cells)]
            if "injected-parameters" not in cell.metadata.get("tags", [])]
    name = data.NAMES.get(dataset, dataset)
    if not keep_cells:  # a variant: its source's introduction is not repeated here, only named
        title = head[0].source.splitlines()[0].lstrip("# ")
        head = [nbformat.v4.new_markdown_cell(id="variant-title", source=(
            f"# {title}, on {name}\n\nThe notebook `{source.name}` run with `dataset = {dataset!r}`: its introduction, "
            "method and readings are there."))] + [cell for cell in head if cell.cell_type == "code"]
    notebook.cells = head
    notice = {"tags": [NOT_RUN_NOTICE]}
    notebook.cells.append(nbformat.v4.new_code_cell(id="not-run-check", metadata=notice, source=
        "from IPython.display import Markdown, display\n\n"
        "from quanos_lib import data, profiles\n\n"
        "run = profiles.get(profile)\n"
        "try:\n"
        "    data.load(dataset)\n"
        "except data.DataUnavailableError as error:\n"
        "    display(Markdown(f\"**Not available at profile `{run.name}`.** {error}\"))"))
    follows = ": its cells follow, not executed." if keep_cells else "."
    notebook.cells.append(nbformat.v4.new_markdown_cell(id="not-run-text", metadata=notice, source=(
        f"## Not run here\n\n{name[0].upper()}{name[1:]} could not be had on the machine that produced this copy "
        f"(the cell above says why), so this notebook shows no result. On a machine with internet, "
        f"`./reproduce.sh --only {source.name[:2]}` downloads it and runs the notebook in full{follows}")))
    nbformat.write(notebook, str(destination))


def append_unexecuted(executed, source):
    """Append to the executed :func:`not_run_notebook` ``executed`` the cells of ``source`` after its parameters
    cell, unexecuted and tagged ``not-run`` and ``nbval-skip`` (no machine without the data can run them), so that
    the notebook's code is never lost; :func:`restored` makes them runnable again."""
    import nbformat
    rest = restored(nbformat.read(str(source), as_version=4)).cells
    rest = rest[after_parameters(rest):]
    for cell in rest:
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), NOT_RUN, "nbval-skip"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook = nbformat.read(str(executed), as_version=4)
    notebook.cells.extend(rest)
    nbformat.write(notebook, str(executed))


WIDGET_OUTPUT = "application/vnd.jupyter.widget-view+json"


def clean_notebook(path, keep_parameters=None):
    """Strip the per-run noise from an executed notebook, in place: papermill's metadata (times, durations,
    machine paths), Jupyter's execution timestamps, the random ids pandas gives each styled table (``T_1a2b3``),
    which become the cell's id, and the memory addresses in plain-text reprs (``<pandas...Styler at 0x7f...>``);
    widget state and widget outputs; and papermill's injected parameters cell (see the module doc), except for
    ``keep_parameters`` (a variant's own, e.g. ``{"dataset": "cifar100"}``), which it keeps alone."""
    import nbformat
    notebook = nbformat.read(str(path), as_version=4)
    notebook.metadata.pop("papermill", None)
    notebook.metadata.pop("widgets", None)
    kept = []
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            if not keep_parameters:
                continue
            cell.id, cell.outputs, cell.execution_count = "injected-parameters", [], None
            # written as ruff formats it (double quotes, no trailing newline): tests/test_notebook_code.py
            cell.source = "\n".join(["# Parameters of this variant", *(
                f"{name} = {json.dumps(value) if isinstance(value, str) else repr(value)}"
                for name, value in keep_parameters.items())])
        kept.append(cell)
    notebook.cells = kept
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs if WIDGET_OUTPUT not in output.get("data", {})]
        for k, output in enumerate(cell.get("outputs", [])):
            if "text/plain" in output.get("data", {}):
                output["data"]["text/plain"] = re.sub(r" at 0x[0-9a-f]+>", ">", output["data"]["text/plain"])
            if "text/html" in output.get("data", {}):
                html = output["data"]["text/html"]
                for uuid in dict.fromkeys(re.findall(r"\bT_([0-9a-f]{5})_", html)):
                    html = html.replace(f"T_{uuid}", f"T_{cell.id}_{k}")
                output["data"]["text/html"] = html
    nbformat.write(notebook, str(path))
