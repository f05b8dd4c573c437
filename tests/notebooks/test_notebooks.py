"""The notebooks under ``notebooks/``: committed without outputs, and each runs top to bottom on a small generated
world (warehouse, MLflow store with both champions, scores), reached only through the project's settings.

The world is built once, in the test process, and the notebooks run one after another in a kernel of this
environment's Python: notebook 2 rewrites a training-set table in the warehouse, which a DuckDB file allows only
while no other process has it open.
"""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from pipelines.generate.run import generate
from pipelines.generate.simulate import Oracle
from pipelines.ingest import ingest
from pipelines.score import champion_scorer, latest_dates, score
from pipelines.snapshots import default_dates, refresh
from pipelines.training.datasets import TARGETS, build_dataset
from pipelines.training.train import train
from pipelines.warehouse import connect

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds; a cell that hangs fails the test instead of blocking CI


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS][:3] == [
        "01-explore-data.ipynb", "02-train-and-evaluate.ipynb", "03-explain-and-act.ipynb",
    ]  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (
        f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them before committing "
        f"(uv run --with nbconvert jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)})"
    )


@pytest.fixture
def kernel_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the notebooks' kernels; kernels resolve ``python3`` to this environment's spec."""
    # JUPYTER_PATH comes first in the kernel-spec search: a user's own python3 kernel elsewhere must not win.
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    return {**os.environ, "IPYTHONDIR": str(tmp_path_factory.mktemp("ipython"))}


def run(nb: nbformat.NotebookNode, env: dict[str, str], sockets: Path) -> nbformat.NotebookNode:
    """Execute ``nb`` in place from ``notebooks/`` (where a reader's Jupyter starts it), failing on any error.
    The kernel talks over Unix sockets under ``sockets`` (an absolute path: the kernel runs in another folder)
    rather than over plain-text TCP."""
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(ROOT / "notebooks")}})
    return client.execute(env=env)


def test_the_kernel_is_this_environment(tmp_path: Path, kernel_env: dict[str, str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    run(nb, kernel_env, tmp_path)
    assert Path(nb.cells[0].outputs[0]["text"].strip()).resolve() == Path(sys.executable).resolve()


def build_world(root: Path) -> dict[str, str]:
    """What ``make demo`` builds, small (1,500 accounts, 18 months, 20 oracle paths, one scored date), under
    ``root``; returns the settings' environment variables pointing at it."""
    data, uri = root / "data", f"sqlite:///{root / 'mlflow.db'}"
    warehouse, raw = data / "warehouse.duckdb", data / "generated"
    generate(raw, accounts=1500, months=18, seed=7, oracle=Oracle(paths=20), workers=2)
    ingest(raw, warehouse)
    with connect(warehouse) as con:
        refresh(con, default_dates(con))
        for target in TARGETS:
            build_dataset(con, target)
            # force: a world this small leaves the trees few dates (the slices that judge them come after a gap),
            # so a model may not earn champion; the notebooks need one to show.
            train(con, target, tracking_uri=uri, artifacts=root / "mlruns",
                  oracle=raw / "ground_truth" / "oracle.parquet", force=True)  # fmt: skip
        score(con, champion_scorer(uri), latest_dates(con))
    return {"CHURN_DATA_DIR": str(data), "CHURN_WAREHOUSE": str(warehouse), "CHURN_TRACKING_URI": uri,
            "MLFLOW_TRACKING_URI": uri, "CHURN_MLFLOW_ARTIFACTS": str(root / "mlruns")}  # fmt: skip


@pytest.mark.slow
def test_notebooks_run_top_to_bottom(tmp_path: Path, kernel_env: dict[str, str]) -> None:
    env = {**kernel_env, **build_world(tmp_path)}
    failed = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        try:
            run(nb, env, tmp_path)
        except CellExecutionError as e:
            failed[path.name] = str(e)
            continue
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
        if not images:
            failed[path.name] = "ran, but drew no figure (are plots displayed inline?)"
    assert not failed, "\n\n".join(f"{name}:\n{why}" for name, why in failed.items())
