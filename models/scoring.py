"""Scores with everything a CSM or a health-score system needs, for any frame of feature rows: churn and upsell
probabilities, health score and tier, family components, top reasons, revenue at risk and a suggested play.
Shared by batch scoring and by the API's live scoring, so both say the same thing for the same row."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.estimator import ChurnModel
from models.explain import HealthConfig, explain, health, reasons
from models.plays import Playbook, load_playbook, suggest


@dataclass(frozen=True)
class Scorer:
    churn: ChurnModel
    upsell: ChurnModel
    versions: dict[str, str] = field(default_factory=dict)  # target -> registered version
    health_config: HealthConfig = field(default_factory=HealthConfig)
    playbook: Playbook = field(default_factory=load_playbook)
    top: int = 3

    def score(self, rows: pd.DataFrame, threads: int | None = None) -> pd.DataFrame:
        """One row per input row: account_id and as_of when given, then p_churn, p_upsell, health, tier,
        components (dict family -> points), reasons and upsell_reasons (lists of dicts), arr, revenue_at_risk,
        play and the model versions."""
        rows = rows.reset_index(drop=True)
        e = explain(self.churn, self.churn.prepare(rows), threads)
        u = explain(self.upsell, self.upsell.prepare(rows), threads)
        score, parts, _ = health(self.churn, e)
        tier = self.health_config.tier(score)
        arr = pd.to_numeric(rows["arr"], errors="coerce") if "arr" in rows else pd.Series(np.nan, index=rows.index)
        out = pd.DataFrame({c: rows[c] for c in ("account_id", "as_of") if c in rows})
        out["p_churn"] = e.probability
        out["p_upsell"] = u.probability
        out["health"] = score
        out["tier"] = tier
        out["components"] = pd.Series(parts.round(4).to_dict(orient="records"), dtype=object)
        out["reasons"] = pd.Series(reasons(rows, e, self.top), dtype=object)
        out["upsell_reasons"] = pd.Series(reasons(rows, u, self.top), dtype=object)
        out["arr"] = arr.to_numpy()
        out["revenue_at_risk"] = e.probability * arr.to_numpy()
        out["play"] = suggest(rows, parts, tier, u.probability, self.playbook)
        out["churn_version"] = self.versions.get("churn", "")
        out["upsell_version"] = self.versions.get("upsell", "")
        return out
