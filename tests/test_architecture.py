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
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


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


def _named_imports(tree: ast.AST) -> list[tuple[str, str | None]]:
    """(module, name) for every `from module import name` of a captioner module in the tree, and
    (module, None) for every `import module` or `from package import module`; imports under
    `if TYPE_CHECKING:` do not count."""
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, None) for a in node.names if a.name.split(".")[0] == "captioner")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "captioner":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").is_file() or (ROOT / Path(*sub.split("."))).is_dir()
                found.append((sub, None) if is_module else (node.module, alias.name))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports(tree: ast.AST) -> set[str]:
    """Every captioner module the tree imports (`from captioner import x` counts as captioner.x when
    x is a module, else as captioner, the public surface)."""
    return {module for module, _ in _named_imports(tree)}


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


def test_the_model_is_the_paper_without_runtime_switches():
    # captioner/model/ is the math as written: what runs faster is built from it in runtime/ (and
    # training/), never chosen inside it by whether autograd is on or guessed from tensor versions.
    model = Path(__file__).parent.parent / "captioner" / "model"
    found = {
        f"{path.name}: {needle}"
        for path in model.glob("*.py")
        for needle in ("is_grad_enabled", "._version", "inference_mode", "onnx", "int8")
        if needle in path.read_text()
    }
    assert not found


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


# The public surface the front ends (cli/, __main__, app/) import from, besides their own modules:
# the names `captioner` exports (captioner/__init__.py: Captioner, CaptionResult, DecodingOptions,
# the error types...), and these modules, each the library's entry point for a feature a front end
# offers. The engine (images, model, runtime, decoding, results, recognition, pipeline, the model
# directory's loading, training's internals) is reached only through `captioner`'s names.
PUBLIC_MODULES = {
    "captioner.batch": "captioning files and folders into records",
    "captioner.demo": "the demo",
    "captioner.publish": "writing a model directory for others",
    "captioner.distributed": "torchrun's processes",
    "captioner.data.datasets": "data sets on disk",
    "captioner.data.synth": "the shapes world",
    "captioner.data.objects": "the photographed-objects world and a model's known objects",
    "captioner.training.config": "training settings",
    "captioner.training.run": "a training run",
    "captioner.lab": "the attention lab: every variant trained and measured alike",
    "captioner.evaluation.evaluate": "the evaluation report",
    "captioner.evaluation.photos": "the real-photo report",
    "captioner.evaluation.report": "the reports' Markdown tables",
    "captioner.viz.render": "heatmap pictures",
    "captioner.viz.first_word": "which word's map the app shows first",
    "captioner.viz.lab": "pictures of the attention lab's variants (gaze path, a grid cell)",
    "captioner.viz.greying": "the picture of a word that did not look at the image (the sentinel's threshold)",
    "captioner.modeldir.directory": "what a model directory holds, the shipped models (no torch)",
    "captioner.modeldir.folder_files": "reading a model folder's files safely",
}
FRONT_ENDS = ("captioner.cli", "captioner.__main__", "app")


def _not_public(imports: list[tuple[str, str | None]], exported: set[str]) -> list[str]:
    bad = []
    for module, name in imports:
        if module.startswith(FRONT_ENDS):
            continue  # the front end's own modules
        if module == "captioner":
            if name is not None and name not in exported:
                bad.append(f"captioner.{name} (not among the names captioner exports)")
        elif module not in PUBLIC_MODULES:
            bad.append(f"{module}{'.' + name if name else ''} (from an internal module)")
        elif name is not None and name.startswith("_"):
            bad.append(f"{module}.{name} (a private name)")
    return bad


def test_front_ends_import_only_the_public_surface():
    import captioner

    files = sorted((ROOT / "captioner" / "cli").rglob("*.py")) + [ROOT / "captioner" / "__main__.py"] + sorted((ROOT / "app").glob("*.py"))
    bad = []
    for path in files:
        for line in _not_public(_named_imports(ast.parse(path.read_text(), str(path))), set(captioner.__all__)):
            bad.append(f"{path.relative_to(ROOT)}: {line}")
    assert not bad, "the front ends import beside the public surface (export the name from captioner, or list the module):\n" + "\n".join(
        bad
    )


def test_the_public_surface_exists():
    import importlib

    import captioner

    for module in PUBLIC_MODULES:
        importlib.import_module(module)
    for name in captioner.__all__:
        assert getattr(captioner, name) is not None, name


def test_the_check_sees_a_front_end_reaching_inside():
    tree = ast.parse(
        "from captioner import Captioner, pipeline\nfrom captioner.modeldir import directory, checkpoint\n"
        "from captioner.batch import run_batch, _record\n"
        "def f():\n    from captioner.decoding.options import DecodingOptions\n    import captioner.model.encoder\n"
    )
    assert _not_public(_named_imports(tree), {"Captioner"}) == [
        "captioner.pipeline (from an internal module)",
        "captioner.modeldir.checkpoint (from an internal module)",
        "captioner.batch._record (a private name)",
        "captioner.decoding.options.DecodingOptions (from an internal module)",
        "captioner.model.encoder (from an internal module)",
    ]
