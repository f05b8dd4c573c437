"""The pickles that ``churn train`` logs beside a model (the hazard curve, the expansion size model): written and
read back with a check of what they hold, so that a wrong or stale artifact fails by name instead of later."""

import pickle
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def save_pickle(obj: object, path: Path) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


def load_pickle(path: str | Path, kind: type[T]) -> T:
    """The object pickled at ``path`` (``save_pickle``), which must be a ``kind``."""
    obj = pickle.loads(Path(path).read_bytes())
    if not isinstance(obj, kind):
        article = "an" if kind.__name__[:1] in "AEIOU" else "a"
        raise TypeError(f"{path} holds a {type(obj).__name__}, not {article} {kind.__name__}")
    return obj
