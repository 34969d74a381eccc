"""The import rule of the layers (docs/ARCHITECTURE.md), read from the source with `ast`.

Every import counts, at module level or inside a function: a function-level import is still a dependency,
only a later one. Layers, bottom up: the search spaces' registry (search_spaces/registry.py and the
Keras-free declarations it names), tuner/core, tuner/data, search_spaces, tuner/engine, tuner/evaluation,
tuner/reporting; the application, tuner/cli.py and tuner/demo.py, on top; the root cli.py only starts tuner/cli.py.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("tuner", "search_spaces", "cli")

# What each layer may import of the package (its own layer always).
LAYERS = ("registry", "root", "core", "data", "search_spaces", "engine", "evaluation", "reporting", "app")
ALLOWED = {layer: set(LAYERS[: LAYERS.index(layer) + 1]) for layer in LAYERS}
# The registry's modules: Keras-free, importing nothing else of the package.
REGISTRY = ("search_spaces", "search_spaces.registry", "search_spaces.hyperparameters")

# The only imports of Keras Tuner's private package: our patches, and search.py switching its DEBUG printing off.
KERAS_TUNER_PRIVATE = {
    ("tuner/engine/keras_tuner_patches.py", "keras_tuner.src.engine.tuner_utils"),
    ("tuner/engine/keras_tuner_patches.py", "keras_tuner.src.utils"),
    ("tuner/engine/search.py", "keras_tuner.src.config"),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing file, relative to the repository root
    name: str  # the imported module (for `from package import submodule`, the submodule)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_first_party_module(name: str) -> bool:
    path = REPO_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every import in the file, wherever it stands, relative ones resolved."""
    source = path.read_text(encoding="utf-8") if source is None else source
    relative = str(path.relative_to(REPO_ROOT))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(relative, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                # `from package import submodule` imports the submodule.
                candidate = f"{base}.{alias.name}"
                if base.startswith("keras_tuner.src") or (
                        base.split(".")[0] in FIRST_PARTY and is_first_party_module(candidate)):
                    found.append(Import(relative, candidate, node.lineno))
                else:
                    found.append(Import(relative, base, node.lineno))
        elif (isinstance(node, ast.Attribute) and node.attr == "src" and isinstance(node.value, ast.Name)
              and node.value.id == "keras_tuner"):
            found.append(Import(relative, "keras_tuner.src", node.lineno))  # keras_tuner.src.… reached by attribute
    return found


def layer_of_module(name: str) -> str | None:
    """The layer of a first-party module name, None for anything else."""
    parts = name.split(".")
    if parts[0] == "cli":
        return "cli"
    if parts[0] == "search_spaces":
        return "registry" if name in REGISTRY else "search_spaces"
    if parts[0] != "tuner":
        return None
    if len(parts) == 1:
        return "root"
    if parts[1] in ("core", "data", "engine", "evaluation", "reporting"):
        return parts[1]
    if parts[1] in ("demo", "cli"):
        return "app"
    raise AssertionError(f"{name}: a module of tuner/ in no layer; add it to tests/test_architecture.py")


def layer_of_file(relative: str) -> str:
    return layer_of_module(module_name(REPO_ROOT / relative))


PACKAGE_FILES = sorted([*REPO_ROOT.joinpath("tuner").rglob("*.py"), *REPO_ROOT.joinpath("search_spaces").rglob("*.py")])
ALL_IMPORTS = [found for path in [*PACKAGE_FILES, REPO_ROOT / "cli.py"] for found in imports_of(path)]


def violations(layer: str) -> list[str]:
    wrong = []
    for found in ALL_IMPORTS:
        if found.module == "cli.py" or layer_of_file(found.module) != layer:
            continue
        target = layer_of_module(found.name)
        if target is not None and target not in ALLOWED[layer]:
            wrong.append(f"{found.module}:{found.line} imports {found.name} ({target})")
    return wrong


# --- the checker itself -------------------------------------------------------------------------------------


def test_the_scanner_sees_function_level_and_relative_imports():
    source = ("from . import cnn_depth\nfrom .hyperparameters import Recorder\n"
              "def f():\n    if True:\n        from tuner.reporting import tables\n        import tuner.engine.search\n"
              "    from tuner.core.errors import ToolkitError\n"
              "class C:\n    def g(self):\n        import keras_tuner\n        return keras_tuner.src.utils\n")
    names = {found.name for found in imports_of(REPO_ROOT / "search_spaces" / "example.py", source)}
    assert names == {"search_spaces.cnn_depth", "search_spaces.hyperparameters", "tuner.reporting.tables",
                     "tuner.engine.search", "tuner.core.errors", "keras_tuner", "keras_tuner.src"}


def test_the_scan_covers_the_package():
    assert len(PACKAGE_FILES) >= 40
    scanned = {found.module for found in ALL_IMPORTS}
    assert {"tuner/core/runs.py", "tuner/engine/search.py", "search_spaces/registry.py", "tuner/cli.py",
            "cli.py"} <= scanned
    # Function-level imports are found: the commands and demo's search all import inside functions.
    assert any(found.module == "tuner/cli.py" and found.name == "tuner.reporting.tables" for found in ALL_IMPORTS)
    assert any(found.module == "tuner/demo.py" and found.name == "tuner.engine.search" for found in ALL_IMPORTS)
    for found in ALL_IMPORTS:  # every first-party module imported exists (the scan resolved it right)
        if found.name.split(".")[0] in FIRST_PARTY:
            assert is_first_party_module(found.name) or is_first_party_module(found.name.rpartition(".")[0]), found


# --- the rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(layer):
    assert violations(layer) == []


def test_the_registry_is_read_by_core_and_imports_nothing_heavy():
    assert any(found.module.startswith("tuner/core/") and layer_of_module(found.name) == "registry"
               for found in ALL_IMPORTS)
    registry_files = {found.module for found in ALL_IMPORTS if layer_of_file(found.module) == "registry"}
    assert "search_spaces/registry.py" in registry_files
    heavy = [found for found in ALL_IMPORTS if found.module in registry_files
             and found.name.split(".")[0] in ("keras", "keras_tuner", "tensorflow", "numpy")]
    assert heavy == []


def test_nothing_in_the_package_imports_the_command_line():
    assert [found for found in ALL_IMPORTS if found.name.split(".")[0] == "cli" or (
        found.name == "tuner.cli" and found.module != "cli.py")] == []


def test_the_root_cli_py_only_starts_the_package_s_command_line():
    source = (REPO_ROOT / "cli.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 15
    assert {found.name for found in imports_of(REPO_ROOT / "cli.py")} == {"tuner.cli"}


def test_only_the_patches_and_search_touch_keras_tuner_private_package():
    private = {(found.module, found.name) for found in ALL_IMPORTS if found.name.startswith("keras_tuner.src")}
    assert private == KERAS_TUNER_PRIVATE


# --- Keras stays out of the quick commands ------------------------------------------------------------------

HEAVY = ("keras", "tensorflow", "keras_tuner", "jax", "torch")
COMMAND = """
import json, sys
import cli
try:
    cli.main({argv!r})
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
print("LOADED=" + json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r}))))
"""


@pytest.mark.parametrize("argv", [["spaces"], ["--help"]])
@pytest.mark.slow
def test_quick_commands_do_not_import_keras(argv):
    done = subprocess.run([sys.executable, "-c", COMMAND.format(argv=argv, heavy=HEAVY)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED=") and json.loads(last.removeprefix("LOADED=")) == []
    if argv == ["spaces"]:
        assert "cnn_depth" in done.stdout and "mobilenet_head" in done.stdout


def test_no_module_of_the_package_imports_itself_round_a_circle():
    graph: dict[str, set[str]] = {}
    for found in ALL_IMPORTS:
        source = module_name(REPO_ROOT / found.module)
        if found.name.split(".")[0] in ("tuner", "search_spaces") and is_first_party_module(found.name):
            graph.setdefault(source, set()).add(found.name)
    circles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package's __init__ importing its own modules is no circle worth naming.
    assert [circle for circle in circles if len(set(circle)) > 1] == []
