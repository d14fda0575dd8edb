"""afa_cli's own imports, read from its source: which module imports which, and on what line.

Module-level and function-level imports both count (a deferred import is still a dependency),
and `from afa_cli.x import y` counts as importing afa_cli.x.y when y is a module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "afa_cli"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE


@dataclass(frozen=True)
class Import:
    """One import of an afa_cli module by another."""

    importer: str
    line: int
    imported: str


def module_files() -> dict[str, Path]:
    """Every module of afa_cli by dotted name (a package by its own name, not `.__init__`)."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def _imported_names(node: ast.Import | ast.ImportFrom, importer: str,
                    modules: dict[str, Path]) -> list[str]:
    """The modules one import statement names, absolute and relative ones alike."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer if _is_package(importer, modules) else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    # `from afa_cli.x import y` imports the module afa_cli.x.y when there is one
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names]


def _owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The afa_cli module a dotted name lies in (a module, or an attribute of one)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def project_imports() -> list[Import]:
    """Every import of an afa_cli module inside afa_cli, in source order, module by module."""
    modules = module_files()
    imports = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported_names(node, importer, modules):
                imported = _owning_module(name, modules)
                if imported is not None and imported != importer:
                    imports.append(Import(importer, node.lineno, imported))
    return sorted(set(imports), key=lambda i: (i.importer, i.line, i.imported))
