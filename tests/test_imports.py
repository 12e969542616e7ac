"""Every import inside the library points one way: the graph of its modules' imports of each other (at the top and
inside functions alike) has no cycle."""
import ast
import pathlib

LIBRARY = pathlib.Path(__file__).resolve().parents[1] / "quanos_lib"


def _imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("quanos_lib."):
            found.add(node.module.split(".")[1])
    return {name.split(".")[0] for name in found}


def test_the_library_imports_have_no_cycle():
    graph = {path.stem: _imports(path) for path in LIBRARY.glob("*.py") if path.stem != "__init__"}
    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", " -> ".join([*trail, module])
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
