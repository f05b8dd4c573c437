"""The layering of DESIGN.md and of each package's docstring, read from the import statements: ``serving -> models
-> features``, ``pipelines -> models, features``, and inside ``pipelines`` each room imports only what its
docstring allows. A planted import proves the check fails."""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("features", "models", "serving", "pipelines")
ROOMS = ("pipelines.cli", "pipelines.ingest", "pipelines.generate", "pipelines.snapshots", "pipelines.spark",
         "pipelines.training", "pipelines.monitor")  # fmt: skip
# What each room may import besides itself (and the standard library and third-party packages).
ALLOWED = {
    "features": set(),
    "models": {"features"},
    "serving": {"features", "models"},
    "pipelines.settings": set(),
    "pipelines.warehouse": {"features", "pipelines.settings"},
    "pipelines.publish": {"features", "models", "pipelines.warehouse"},
    "pipelines.score": {"features", "models", "pipelines.settings", "pipelines.warehouse", "pipelines.publish"},
    "pipelines.generate": {"features"},
    "pipelines.ingest": {"features", "pipelines.settings", "pipelines.warehouse"},
    "pipelines.snapshots": {"features", "pipelines.settings", "pipelines.warehouse"},
    "pipelines.training": {"features", "models", "pipelines.settings", "pipelines.warehouse"},
    "pipelines.monitor": {
        "features",
        "models",
        "pipelines.settings",
        "pipelines.warehouse",
        "pipelines.training",
        "pipelines.snapshots",
    },
    # Spark reuses the stages' own logic (ingest's mapping and checks, the training sets' split, the scores'
    # stored form) rather than writing it again.
    "pipelines.spark": {
        "features",
        "models",
        "pipelines.settings",
        "pipelines.ingest",
        "pipelines.training",
        "pipelines.score",
    },
    # The effects of plays: reads the play tables and labels them by the label rules, estimates with models.
    "pipelines.effects": {"features", "models"},
    # The accounts each play would help most now: the effects' rows and the uplift model.
    "pipelines.play_ranking": {"models", "pipelines.effects"},
    # The book's retention forecast and its backtest: snapshots and labels in, models.forecast's figures out.
    "pipelines.forecast": {"features", "models", "pipelines.snapshots"},
    # The scheduler's command: every stage, in order.
    "pipelines.retrain": {
        "models",
        *(f"pipelines.{m}" for m in ("warehouse", "score", "ingest", "snapshots", "training")),
    },
    "pipelines.cli": {
        "features",
        "models",
        *(
            f"pipelines.{m}"
            for m in ("settings", "warehouse", "score", "publish", "retrain", "effects", "play_ranking", "forecast")
        ),
        *(r for r in ROOMS if r != "pipelines.cli"),
    },
}


def room(module: str) -> str:
    for r in ROOMS:
        if module == r or module.startswith(r + "."):
            return r
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "pipelines" and len(parts) > 1 else parts[0]


def imports(source: str) -> Iterator[str]:
    """The product modules a source file imports (``from pipelines import spark`` names ``pipelines.spark``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{a.name}" for a in node.names)


def violations(module: str, source: str) -> list[str]:
    here = room(module)
    out = []
    for name in imports(source):
        if name.split(".")[0] not in PACKAGES:
            continue
        there = room(name)
        if there != here and there not in ALLOWED[here]:
            out.append(f"{module} imports {name} ({here} may not import {there})")
    return out


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path


def test_every_import_follows_the_layering() -> None:
    found = [v for name, path in _modules() for v in violations(name, path.read_text())]
    assert found == []


def test_every_module_is_in_a_room_the_rules_know() -> None:
    assert {room(name) for name, _ in _modules()} - {"pipelines"} <= set(ALLOWED)


def test_a_planted_import_is_caught() -> None:
    assert violations("pipelines.score", "from serving.app import create_app\n") == [
        "pipelines.score imports serving.app.create_app (pipelines.score may not import serving)"
    ]
    assert violations("models.scoring", "import pipelines.warehouse\n") == [
        "models.scoring imports pipelines.warehouse (models may not import pipelines.warehouse)"
    ]
    assert violations("pipelines.snapshots.fast", "from pipelines.training import train\n") != []
    assert violations("pipelines.cli.app", "from pipelines.spark import engine\n") == []
