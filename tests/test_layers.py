"""The folders of pcapng_iou import only downwards, and never in a circle.

Every module's imports are read with ``ast`` (those inside functions too), never by importing it::

    core  <-  shell  <-  app          core: pure; shell: the I/O around it
    core  <-  ui     <-  app          ui: what a person sees (it is handed status, never a socket)
    core  <-  sim    <-  bench, app   sim: the simulated IOU, standing alone
    core, shell, ui, sim  <-  bench  <-  app

``app`` (the entry points) may import every folder; nothing imports ``app``, and only ``app`` imports
``bench``.  The package's own top-level modules (``__init__``: the name and version; ``exitstatus``) sit
below ``core`` and import no folder; ``__main__`` belongs to ``app``.

Run as a script it prints which folder imports which: ``python tests/test_layers.py``.
"""
from __future__ import annotations

import ast
import os
import sys
from typing import Dict, Iterator, List, Optional, Set, Tuple

PACKAGE = "pcapng_iou"
PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)
#: The top-level modules: below every folder.
BASE = "(top)"
#: What each folder may import, besides itself.
ALLOWED: Dict[str, Set[str]] = {
    BASE: set(),
    "core": {BASE},
    "shell": {BASE, "core"},
    "ui": {BASE, "core"},
    "sim": {BASE, "core"},
    "bench": {BASE, "core", "shell", "ui", "sim"},
    "app": {BASE, "core", "shell", "ui", "sim", "bench"},
}
#: Top-level modules that belong to a folder: ``python -m pcapng_iou`` is the command line.
TOP_LEVEL_FOLDER = {"__main__": "app"}


def modules(package_dir: str) -> Iterator[Tuple[str, str]]:
    """(dotted module name, path) of every .py file under ``package_dir``."""
    root = os.path.dirname(package_dir)
    for folder, _, files in sorted(os.walk(package_dir)):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                yield dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted, path


def folder_of(module: str, folders) -> str:
    """The folder ``pcapng_iou.core.netmap`` is in (``core``); the package's own modules are BASE."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in folders:
        return parts[1]
    return TOP_LEVEL_FOLDER.get(parts[1], BASE) if len(parts) > 1 else BASE


def imported(module: str, path: str, is_package: bool) -> Iterator[Tuple[int, str]]:
    """(line, module) for every import of the package in the file, relative imports resolved."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pcapng_iou import core`` imports a folder: each name may be a module.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                yield node.lineno, name


def folder_imports(package_dir: str) -> Dict[Tuple[str, str], List[str]]:
    """(importing folder, imported folder) -> where: ``path:line imports module``."""
    folders = {name for name in os.listdir(package_dir) if os.path.isfile(os.path.join(package_dir, name, "__init__.py"))}
    found: Dict[Tuple[str, str], List[str]] = {}
    for module, path in modules(package_dir):
        source = folder_of(module, folders)
        seen = set()
        for line, target in imported(module, path, path.endswith("__init__.py")):
            target_folder = folder_of(target, folders)
            if target_folder != source and (line, target_folder) not in seen:
                seen.add((line, target_folder))
                where = f"{os.path.relpath(path, os.path.dirname(package_dir))}:{line} imports {target}"
                found.setdefault((source, target_folder), []).append(where)
    return found


def upward_imports(edges: Dict[Tuple[str, str], List[str]]) -> List[str]:
    """Every import a folder may not make (a folder not in ALLOWED may import nothing of the others)."""
    return [f"{source} may not import {target}: {where}"
            for (source, target), wheres in sorted(edges.items()) if target not in ALLOWED.get(source, set())
            for where in wheres]


def circle(edges) -> Optional[List[str]]:
    """A circle of folders importing each other (``[a, b, a]``), or None."""
    graph: Dict[str, Set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    done: Set[str] = set()

    def visit(node: str, path: List[str]) -> Optional[List[str]]:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for following in sorted(graph.get(node, ())):
            found = visit(following, path + [node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


# -- the package as it is -----------------------------------------------------------------------
def test_no_folder_imports_upwards():
    problems = upward_imports(folder_imports(PACKAGE_DIR))
    assert not problems, "\n".join(problems)


def test_no_circle_between_folders():
    assert circle(folder_imports(PACKAGE_DIR)) is None


def test_every_folder_has_its_place():
    folders = {name for name in os.listdir(PACKAGE_DIR) if os.path.isfile(os.path.join(PACKAGE_DIR, name, "__init__.py"))}
    assert folders == set(ALLOWED) - {BASE}, "a new folder: give it its place in ALLOWED (and docs/architecture.rst)"


# -- the checker finds what it must ------------------------------------------------------------
def write_package(tmp_path, files: Dict[str, str]) -> str:
    package_dir = tmp_path / PACKAGE
    for name, text in {"__init__.py": "", **files}.items():
        path = package_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        init = path.parent / "__init__.py"
        if not init.exists():
            init.write_text("")
    return str(package_dir)


def test_an_upward_import_is_found_wherever_it_is_written(tmp_path):
    package_dir = write_package(tmp_path, {
        "core/pure.py": "def f():\n    from pcapng_iou.shell import relay\n",   # inside a function
        "ui/view.py": "from ..shell.netiodir import default_dir\n",              # relative
        "sim/lab.py": "from pcapng_iou import ui\n",                              # a folder by name
        "shell/relay.py": "import pcapng_iou.core.netio\nfrom pcapng_iou import PROG\n",  # allowed
        "exitstatus.py": "from pcapng_iou.app import cli\n",
        "__main__.py": "from pcapng_iou.app.cli import main\n",                  # allowed: app's own
        "app/cli.py": "from pcapng_iou.bench import run\nfrom pcapng_iou.ui import console\n",  # allowed
    })
    problems = upward_imports(folder_imports(package_dir))
    assert [text.split(":")[0] for text in problems] == [
        "(top) may not import app", "core may not import shell", "sim may not import ui", "ui may not import shell"]
    assert "pcapng_iou/ui/view.py:1 imports pcapng_iou.shell.netiodir" in problems[-1]


def test_a_circle_is_found():
    assert circle({("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("a", "d"): []}) == ["a", "b", "c", "a"]
    assert circle({("a", "b"): [], ("b", "c"): [], ("a", "c"): []}) is None


if __name__ == "__main__":
    edges = folder_imports(PACKAGE_DIR)
    for (source, target), wheres in sorted(edges.items()):
        print(f"{source:>6} -> {target:<6} {len(wheres)} imports")
    problems = upward_imports(edges)
    loop = circle(edges)
    for text in problems + ([f"circle: {' -> '.join(loop)}"] if loop else []):
        print(text)
    sys.exit(1 if problems or loop else 0)
