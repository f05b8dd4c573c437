"""Scores with everything a CSM or a health-score system needs, for feature rows: churn and upsell
probabilities, health score and tier, family components, top reasons, revenue at risk and a suggested play.
Shared by batch scoring (frames) and by the API's live scoring (dicts), so both say the same thing for a row;
one core works on float arrays, so that a one-row request pays for the trees, not for building frames."""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.families.growth import NOTICE
from models.expansion import ExpansionModel
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


# The horizons of the churn curve, in days: the scores' columns churn_within_<days> (``models.hazard.HORIZONS``).
CURVE_DAYS = (30, 60, 90, 180, 365)
CURVE_COLUMNS = tuple(f"churn_within_{d}" for d in CURVE_DAYS)


class ChurnCurve(Protocol):
    """What the scorer needs of a model of churn over time (``models.hazard.HazardModel``)."""

    features_: list[str]  # the feature columns it reads

    def churn_within(self, rows: pd.DataFrame) -> np.ndarray: ...  # (n, len(CURVE_DAYS)), non-decreasing per row

    def median_day(self, rows: pd.DataFrame) -> list[float | None]: ...  # days to P(churn) = 0.5, None past a year


@dataclass(frozen=True)
class Extras:
    """Per row, what the optional models add: the expected expansion ARR, the churn curve and the median day."""

    expansion: np.ndarray  # expected expansion ARR, NaN without an expansion model
    curve: np.ndarray  # (n, len(CURVE_DAYS)) P(churn within each horizon), NaN without a curve model
    median_day: list[float | None]


@dataclass(frozen=True)
class Scorer:
    churn: Model
    upsell: Model | None  # None: no upsell model (a feature table with a churn label only)
    versions: dict[str, str] = field(default_factory=dict)  # target -> registered version
    health_config: HealthConfig = field(default_factory=HealthConfig)
    playbook: Playbook = field(default_factory=load_playbook)
    top: int = 3
    expansion: ExpansionModel | None = None  # registered with the upsell version (``models.expansion``)
    curve: ChurnCurve | None = None  # registered with the churn version (``models.hazard``)

    def extras(self, rows: pd.DataFrame, p_upsell: np.ndarray) -> Extras:
        """The optional models' figures for the feature rows ``rows`` (NaN and None where a model is missing)."""
        n = len(rows)
        # Rows sent with few features (live scoring) lack columns these models read: missing, as the churn
        # model's matrix has them.
        needed = [*(self.curve.features_ if self.curve is not None else ()),
                  *(self.expansion.features_ if self.expansion is not None else ())]  # fmt: skip
        absent = list(dict.fromkeys(c for c in needed if c not in rows.columns))
        if absent:
            rows = pd.concat([rows, pd.DataFrame(np.nan, index=rows.index, columns=absent)], axis=1)
        expansion = np.full(n, np.nan)
        if self.expansion is not None and n and (self.expansion.kind == "tweedie" or self.upsell is not None):
            expansion = self.expansion.predict(self.expansion.prepare(rows), p_upsell)
        curve, median = np.full((n, len(CURVE_DAYS)), np.nan), list[float | None]([None] * n)
        if self.curve is not None and n:
            curve, median = np.asarray(self.curve.churn_within(rows), dtype=float), self.curve.median_day(rows)
        return Extras(np.asarray(expansion, dtype=float), curve, median)

    def score(self, rows: pd.DataFrame, threads: int | None = None) -> pd.DataFrame:
        """One row per input row: account_id and as_of when given, then notice_given (from the row's
        ``cancellation_pending``: True, False, or None when the row lacks it), p_churn, p_upsell, health, tier,
        components (dict family -> points), reasons and upsell_reasons (lists of dicts), arr, revenue_at_risk,
        play and the model versions."""
        rows = rows.reset_index(drop=True)
        columns = {c: rows[c].to_numpy(dtype=object) for c in rows.columns}
        records = self._records(
            self.churn.prepare(rows).to_numpy(), None if self.upsell is None else self.upsell.prepare(rows).to_numpy(),
            lambda i, c: columns[c][i] if c in columns else None, len(rows), threads, lambda: rows,
        )  # fmt: skip
        return pd.DataFrame.from_records(records, columns=list(records[0]) if records else None)

    def score_dicts(self, rows: Sequence[Mapping[str, object]], threads: int | None = None) -> list[dict[str, Any]]:
        """``score`` for rows given as {column: value}, returning plain dicts (the API's live path)."""
        c, u = self.churn, self.upsell
        return self._records(
            array_from_dicts(rows, c.features_, c.categories_),
            None if u is None else array_from_dicts(rows, u.features_, u.categories_),
            lambda i, col: rows[i].get(col), len(rows), threads, lambda: pd.DataFrame(list(rows)),
        )  # fmt: skip

    def _records(
        self, xc: np.ndarray, xu: np.ndarray | None, value: Value, n: int, threads: int | None,
        frame: Callable[[], pd.DataFrame],
    ) -> list[dict]:  # fmt: skip
        """The scores of ``n`` rows: ``xc`` and ``xu`` the churn and upsell models' matrices, ``value`` a row's
        column, ``frame`` the rows as a frame (built only when an optional model needs one)."""
        e = explain(self.churn, xc, threads)
        u = None if self.upsell is None or xu is None else explain(self.upsell, xu, threads)
        score, parts, _ = health(self.churn, e)
        tier = self.health_config.tier(score)
        families = list(parts.columns)
        points = parts.to_numpy()
        why = top_reasons(e, value, self.top)
        why_up = top_reasons(u, value, self.top) if u is not None else [[] for _ in range(n)]
        p_up = u.probability if u is not None else np.full(n, np.nan)
        more = self.extras(frame(), p_up) if self.expansion is not None or self.curve is not None else None
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
            record.update(_extra(more, i, record.get("as_of")))
            out.append(record)
        return out


def _extra(more: Extras | None, i: int, as_of: object) -> dict[str, Any]:
    """Row ``i``'s expected expansion ARR, churn curve (``CURVE_COLUMNS``) and the expected churn date (as_of plus
    the median day rounded to whole days, ISO text; None when the account is more likely than not a customer in a
    year, or as_of is unknown)."""
    if more is None:
        return {"expected_expansion_arr": None, **dict.fromkeys(CURVE_COLUMNS), "expected_churn_at": None}
    curve = {c: _number(v) for c, v in zip(CURVE_COLUMNS, more.curve[i].tolist(), strict=True)}
    day = more.median_day[i]
    at = None
    if day is not None and as_of is not None and not (isinstance(as_of, float) and math.isnan(as_of)):
        at = (pd.Timestamp(str(as_of)) + pd.Timedelta(days=round(float(day)))).isoformat()  # to the day
    return {"expected_expansion_arr": _number(more.expansion[i]), **curve, "expected_churn_at": at}
