"""Scores with everything a CSM or a health-score system needs, for feature rows: churn and upsell
probabilities, health score and tier, family components, top reasons, revenue at risk and a suggested play.
Shared by batch scoring (frames) and by the API's live scoring (dicts), so both say the same thing for a row;
one core works on float arrays, so that a one-row request pays for the trees, not for building frames."""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.families.growth import NOTICE
from models.explain import HealthConfig, explain, health, top_reasons
from models.family import Model
from models.frame import array_from_dicts
from models.plays import Playbook, choose, load_playbook

Value = Callable[[int, str], object]  # (row, column) -> value


def _number(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def notice_given(v: object) -> bool | None:
    """Whether a row's ``cancellation_pending`` says the customer had given notice; None when it is unknown."""
    x = _number(v)
    return None if x is None else x > 0


@dataclass(frozen=True)
class Scorer:
    churn: Model
    upsell: Model | None  # None: no upsell model (a feature table with a churn label only)
    versions: dict[str, str] = field(default_factory=dict)  # target -> registered version
    health_config: HealthConfig = field(default_factory=HealthConfig)
    playbook: Playbook = field(default_factory=load_playbook)
    top: int = 3

    def score(self, rows: pd.DataFrame, threads: int | None = None) -> pd.DataFrame:
        """One row per input row: account_id and as_of when given, then notice_given (from the row's
        ``cancellation_pending``: True, False, or None when the row lacks it), p_churn, p_upsell, health, tier,
        components (dict family -> points), reasons and upsell_reasons (lists of dicts), arr, revenue_at_risk,
        play and the model versions."""
        rows = rows.reset_index(drop=True)
        columns = {c: rows[c].to_numpy(dtype=object) for c in rows.columns}
        records = self._records(
            self.churn.prepare(rows).to_numpy(), None if self.upsell is None else self.upsell.prepare(rows).to_numpy(),
            lambda i, c: columns[c][i] if c in columns else None, len(rows), threads,
        )  # fmt: skip
        return pd.DataFrame.from_records(records, columns=list(records[0]) if records else None)

    def score_dicts(self, rows: Sequence[Mapping[str, object]], threads: int | None = None) -> list[dict[str, Any]]:
        """``score`` for rows given as {column: value}, returning plain dicts (the API's live path)."""
        c, u = self.churn, self.upsell
        return self._records(
            array_from_dicts(rows, c.features_, c.categories_),
            None if u is None else array_from_dicts(rows, u.features_, u.categories_),
            lambda i, col: rows[i].get(col), len(rows), threads,
        )  # fmt: skip

    def _records(self, xc: np.ndarray, xu: np.ndarray | None, value: Value, n: int, threads: int | None) -> list[dict]:
        e = explain(self.churn, xc, threads)
        u = None if self.upsell is None or xu is None else explain(self.upsell, xu, threads)
        score, parts, _ = health(self.churn, e)
        tier = self.health_config.tier(score)
        families = list(parts.columns)
        points = parts.to_numpy()
        why = top_reasons(e, value, self.top)
        why_up = top_reasons(u, value, self.top) if u is not None else [[] for _ in range(n)]
        p_up = u.probability if u is not None else np.full(n, np.nan)
        out = []
        for i in range(n):
            arr = _number(value(i, "arr"))

            def feature_value(f: str, i: int = i) -> float:
                return _number(value(i, f)) or 0.0

            components = dict(zip(families, points[i].tolist(), strict=True))
            play = choose(self.playbook, value(i, "touch_model"), components, str(tier[i]),
                          float(np.nan_to_num(p_up[i])), feature_value)  # fmt: skip
            record: dict[str, Any] = {}
            for key in ("account_id", "as_of"):
                v = value(i, key)
                if v is not None:
                    record[key] = v
            record["notice_given"] = notice_given(value(i, NOTICE))
            record.update({
                "p_churn": float(e.probability[i]), "p_upsell": None if u is None else float(p_up[i]),
                "health": float(score[i]),
                "tier": str(tier[i]), "components": dict(zip(families, np.round(points[i], 4).tolist(), strict=True)),
                "reasons": why[i], "upsell_reasons": why_up[i], "arr": arr,
                "revenue_at_risk": None if arr is None else float(e.probability[i]) * arr, "play": play,
                "churn_version": self.versions.get("churn", ""), "upsell_version": self.versions.get("upsell", ""),
            })  # fmt: skip
            out.append(record)
        return out
