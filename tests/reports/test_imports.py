"""The reports package has no circle of imports (export, runner and index untied)."""

from __future__ import annotations

import ast
from pathlib import Path

import kit

PACKAGE = Path(kit.__file__).parent / "reports"


def _imports(path: Path) -> set[str]:
    """Modules of ``kit.reports`` that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kit.reports."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("kit.reports.")}
    return found


def test_the_reports_package_has_no_import_cycle() -> None:
    graph = {p.stem: _imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    assert "runner" not in graph["export"] and "runner" not in graph["index"]

    def visit(node: str, path: tuple[str, ...]) -> None:
        for nxt in graph.get(node, ()):
            assert nxt not in path, "import cycle: " + " -> ".join((*path, nxt))
            visit(nxt, (*path, nxt))

    for module in graph:
        visit(module, (module,))
