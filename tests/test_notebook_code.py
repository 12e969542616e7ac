"""The notebooks' code as a reader reads it: formatted by ruff to 100 characters a line, and no comprehension that
spans lines inside a call (computed on a line of its own instead)."""
import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # notebooks/full/ keeps its old commit's code
COMPREHENSIONS = (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)


def _code_cells(path):
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_ruff_leaves_the_notebooks_as_they_are():
    ruff = pathlib.Path(sys.executable).with_name("ruff")
    found = subprocess.run([str(ruff), "format", "--check", *map(str, NOTEBOOKS)], cwd=ROOT, capture_output=True,
                           text=True)
    assert found.returncode == 0, found.stdout + found.stderr


def test_no_code_line_is_longer_than_100_characters():
    long = [(path.name, line) for path in NOTEBOOKS for source in _code_cells(path) for line in source.splitlines()
            if len(line) > 100]
    assert not long, long


def test_no_comprehension_spans_lines_inside_a_call():
    found = []
    for path in NOTEBOOKS:
        for source in _code_cells(path):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call):
                    arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
                    found += [(path.name, ast.get_source_segment(source, argument).splitlines()[0])
                              for argument in arguments
                              if isinstance(argument, COMPREHENSIONS) and argument.end_lineno > argument.lineno]
    assert not found, found
