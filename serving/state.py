"""What the API serves, held in memory and swapped whole: the loaded models and a published version of the scores.

Models and scores reload apart: models when the registry alias moves (or on an explicit reload), scores when a new
version is published (``serving.store``). Either swap builds a new ``Bundle`` and replaces the holder's reference in
one assignment, so a request that took the bundle uses one set of models and one version of scores to the end.

Scores by id are answered with the JSON the batch job prepared when it published the version: loading one turns
Arrow columns into dicts of bytes and one data frame, with no work per account in Python beyond building the dicts.
"""

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.published import JSON_FIELDS
from models.registered import Registered, load_pair
from models.scoring import Scorer
from serving.store import ScoreStore, latest


class Histories(Mapping[str, list[dict[str, Any]]]):
    """Each account's score history, ``[{as_of, health, tier, p_churn, p_upsell}]`` oldest first, kept as the JSON
    the batch job wrote and parsed only for the account asked for."""

    def __init__(self, raw: dict[str, bytes]) -> None:
        self.raw = raw

    def __getitem__(self, account: str) -> list[dict[str, Any]]:
        return json.loads(self.raw[account])  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True)
class Scores:
    frame: pd.DataFrame  # one row per account at the latest as_of: models.published.FRAME_SCHEMA's columns
    history: Mapping[str, list[dict[str, Any]]]  # account -> its score history, oldest first
    payloads: dict[str, bytes]  # account -> JSON of its latest score
    as_of: str | None
    scored_at: str | None
    version: str | None = None  # the published version these come from

    @classmethod
    def empty(cls) -> "Scores":
        """No scores yet: the API then says to run ``churn score``."""
        return cls(pd.DataFrame(), Histories({}), {}, None, None)


def _bytes_by_account(ids: np.ndarray, column: pa.ChunkedArray) -> dict[str, bytes]:
    # A cast from string to binary reuses the buffers; to_numpy makes the bytes objects in C.
    return dict(zip(ids, pc.cast(column, pa.binary()).to_numpy(zero_copy_only=False), strict=True))


def scores_from(version: str, table: pa.Table) -> Scores:
    """``Scores`` from a published version's rows (``models.published.SCHEMA``)."""
    ids = table.column("account_id").to_numpy(zero_copy_only=False)
    payloads = _bytes_by_account(ids, table.column("payload"))
    history = Histories(_bytes_by_account(ids, table.column("history")))
    frame = table.drop_columns(list(JSON_FIELDS)).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    as_of, scored = (pc.max(table.column(c)).as_py() for c in ("as_of", "scored_at"))
    return Scores(frame, history, payloads, as_of.isoformat() if as_of else None,
                  scored.isoformat() if scored else None, version)  # fmt: skip


def load_scores(store: ScoreStore) -> Scores:
    """The store's current version, or empty scores when nothing was published yet."""
    got = latest(store)
    return Scores.empty() if got is None else scores_from(*got)


@dataclass(frozen=True)
class Bundle:
    """Models and scores served together; requests take one reference and use it to the end."""

    models: dict[str, Registered]
    scorer: Scorer
    scores: Scores
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())  # when the models loaded

    @property
    def versions(self) -> dict[str, str]:
        return {t: m.version for t, m in self.models.items()}


def load_models(
    tracking_uri: str, alias: str, smoke: pd.DataFrame | None = None
) -> tuple[dict[str, Registered], Scorer]:
    """Both models at ``alias``; raise if one fails to load or to score a smoke row."""
    models, scorer = load_pair(tracking_uri, alias)
    probe = smoke if smoke is not None else pd.DataFrame([{f: None for f in scorer.churn.features_}])
    got = scorer.score(probe, threads=1)
    checked = ["p_churn", "health"] + (["p_upsell"] if scorer.upsell is not None else [])
    if not np.isfinite(got[checked].to_numpy(dtype=float)).all():
        raise ValueError("the smoke prediction gave non-finite values")
    return models, scorer


class Holder:
    """The current bundle, replaced atomically (one reference assignment) when models or scores change."""

    def __init__(self) -> None:
        self.bundle: Bundle | None = None
        self.scores = Scores.empty()  # the latest loaded, also before any models are
        self.errors: dict[str, str] = {}  # "models" or "scores" -> why its last load failed
        self.monitoring: dict[str, Any] | None = None  # the latest document `churn monitor` published
        self.forecast: dict[str, Any] | None = None  # the latest document `churn forecast` published
        self.effects: dict[str, Any] | None = None  # the latest document `churn effects --publish` published
        self.lock = threading.Lock()  # held while swapping, so a models swap and a scores swap never lose one

    @property
    def error(self) -> str | None:
        """Why the last load of models or scores failed, when it did; None once both have loaded since."""
        return "; ".join(f"{part}: {e}" for part, e in self.errors.items()) or None

    def swap_models(self, models: dict[str, Registered], scorer: Scorer) -> Bundle:
        with self.lock:
            self.bundle = Bundle(models, scorer, self.scores)
            self.errors.pop("models", None)
            return self.bundle

    def swap_scores(self, scores: Scores) -> None:
        with self.lock:
            self.scores = scores
            if self.bundle is not None:
                self.bundle = replace(self.bundle, scores=scores)
            self.errors.pop("scores", None)
