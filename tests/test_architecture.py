"""The package's layers, checked from the code's own imports (docs/architecture.md states them).

Stages, lowest first: a module may import modules of its own layer or of lower layers, never of a
higher one. Every import counts, also one inside a function (a lazy import is still a dependency);
imports under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (layer, module prefixes), lowest first. A prefix names a module or a package.
LAYERS = [
    ("base", ["captioner.files", "captioner.vocab", "captioner.distributed"]),
    ("images", ["captioner.images"]),
    ("model", ["captioner.model"]),
    ("runtime", ["captioner.runtime"]),
    ("decoding", ["captioner.decoding"]),
    ("results", ["captioner.results"]),
    ("data and model directory", ["captioner.data", "captioner.modeldir"]),
    ("recognition", ["captioner.recognition"]),
    ("evaluation and viz", ["captioner.evaluation", "captioner.viz"]),
    ("training", ["captioner.training"]),
    ("pipeline", ["captioner.pipeline"]),
    ("batch, demo, publish and the public surface", ["captioner.batch", "captioner.demo", "captioner.publish", "captioner"]),
    ("front ends", ["captioner.cli", "captioner.__main__", "app"]),
]

# Upward imports that stand today, each with the work that removes it. The test fails when one of
# them is gone (strike it here) as well as when a new one appears.
KNOWN_UPWARD: dict[tuple[str, str], str] = {
    ("captioner.model.decoder", "captioner.runtime.onnx_step"): "issue 21 item 1: the runtime is built from a model snapshot",
    ("captioner.model.encoder", "captioner.runtime.onnx_encoder"): "issue 21 item 1: the runtime is built from a model snapshot",
    ("captioner.model.encoder", "captioner.runtime.onnx_step"): "issue 21 item 1: the export lock belongs to the runtime",
    ("captioner.model.decoder", "captioner.runtime.int8_rows"): "issue 21 item 1: int8 is a transformation of a model snapshot",
}


def _layer(module: str) -> int:
    best, rank = -1, None
    for k, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    if rank is None:
        raise AssertionError(f"{module} is on no layer: add it to LAYERS")
    return rank


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts[0] == "app":
        return "app"
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> set[str]:
    """Every captioner module the tree imports (`from captioner import x` counts as captioner.x when
    x is a module, else as captioner, the public surface)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "captioner")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "captioner":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").is_file() or (ROOT / Path(*sub.split("."))).is_dir()
                found.add(sub if is_module else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    files = sorted((ROOT / "captioner").rglob("*.py")) + sorted((ROOT / "app").glob("*.py"))
    return {_module_name(f): _imports(ast.parse(f.read_text(), str(f))) for f in files}


def _upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)}


def test_every_module_is_on_a_layer():
    for module in _graph():
        _layer(module)


def test_no_module_imports_a_higher_layer():
    upward = _upward(_graph())
    new = sorted(upward - KNOWN_UPWARD.keys())
    assert not new, "upward imports (lower layer -> higher layer):\n" + "\n".join(
        f"  {a} ({LAYERS[_layer(a)][0]}) -> {b} ({LAYERS[_layer(b)][0]})" for a, b in new
    )
    gone = sorted(KNOWN_UPWARD.keys() - upward)
    assert not gone, f"these known upward imports are gone, strike them from KNOWN_UPWARD: {gone}"


def test_images_preprocessing_builds_no_network():
    graph = _graph()
    assert not {m for m in graph["captioner.images.preprocess"] if m.startswith("captioner.model")}


@pytest.mark.parametrize("reader", ["captioner.viz", "captioner.evaluation"])
def test_viz_and_evaluation_read_results_and_build_no_networks(reader):
    graph = _graph()
    built = {
        (a, b)
        for a, targets in graph.items()
        if a.startswith(reader)
        for b in targets
        if b.startswith(("captioner.model", "captioner.runtime"))
    }
    assert not built


def test_the_check_sees_an_upward_import(tmp_path):
    # the checker itself: a model module importing the pipeline is reported
    tree = ast.parse("def f():\n    from captioner.pipeline import Captioner\n")
    assert _imports(tree) == {"captioner.pipeline"}
    assert _upward({"captioner.model.decoder": {"captioner.pipeline"}}) == {("captioner.model.decoder", "captioner.pipeline")}
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from captioner.pipeline import Captioner\n")
    assert _imports(typed) == set()
