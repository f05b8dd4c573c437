"""Plays run by the generator's CSMs, with holdouts and known effects (``pipelines.generate.playbook``).

``PlayRunner`` wraps the oracle's estimator, which ``simulate_chunk`` calls at the start of every month with the
live state: after the oracle's rows for the month (so that P(churn) at a play's as_of is the risk before the play),
it runs the plays whose as_of this is and sets ``State.play_shift``, the shift of the churn logit that
``latent._advance`` adds, for the months within the play's horizon. The true effect of a play on an account is
the oracle's P(churn) within the horizon with the play done minus without it, computed on the same random
numbers (common random numbers: the difference carries almost no simulation noise). Where the windows of
plays overlap, the truth holds the other plays' shifts at as_of fixed over the horizon: a shift that ends, or
another play's that starts, within it is not followed (an approximation for the accounts in two plays at once).

Tables: ``play_assignments`` (every account active at a play's as_of: eligible, held_out) and ``play_actions``
(started, then done or abandoned; by whom, when, with a note) beside the contract's; in the ground truth,
``play_effects`` (per eligible account: P(churn) without and with the play, its effect, whether CSMs ran it) and
``plays`` (per play and segment: the true shift of the churn logit, and the mean true effect over the eligible
accounts, of the play done and of the assignment: the intention-to-treat effect that holdouts measure).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.holdout import held_out
from pipelines.generate.calendar import Calendar
from pipelines.generate.chunk import Chunk, pick
from pipelines.generate.latent import State, Static, sigmoid
from pipelines.generate.params import SEGMENTS, Params
from pipelines.generate.people import HIGH_TOUCH_CSMS, POOLED_CSMS
from pipelines.generate.playbook import Play
from pipelines.generate.simulate import Oracle, estimate

ACTORS = HIGH_TOUCH_CSMS + POOLED_CSMS
NOTES = ("called the champion", "walked through the dashboard", "sent a recap", "no answer, left a message")


class PlayRunner:
    """The oracle's estimator with the plays of ``params.plays`` run on the chunk's accounts ``ids``."""

    def __init__(self, params: Params, ids: list[str], seed: int, chunk: int) -> None:
        if params.plays is None:
            raise ValueError("PlayRunner needs Params.plays")
        self.plays, self.ids, self.seed = params.plays.plays, np.asarray(ids, dtype=object), seed
        self.rng = np.random.default_rng([seed, chunk, 7, 24])  # the plays' own stream: the world's is untouched
        self.shift: dict[str, tuple[np.ndarray, int]] = {}  # play -> (logit shift per account, last day)
        self.rows: list[dict[str, np.ndarray]] = []  # per play: the eligible accounts' fields

    def __call__(
        self, s: State, a: Static, k: int, cal: Calendar, p: Params, o: Oracle, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        rows = estimate(s, a, k, cal, p, o, rng)
        self._shift_at(s, int(cal.ms(k)))  # the other plays' shifts this month: the background of the truth
        for play in self.plays:
            if play.month == k:
                self._run(play, rows, s, a, k, cal, p, o)
        self._shift_at(s, int(cal.ms(k)))
        return rows

    def _shift_at(self, s: State, day: int) -> None:
        s.play_shift = sum((v for v, last in self.shift.values() if day <= last), np.zeros(len(s.h)))

    def _run(self, play: Play, rows: dict[str, np.ndarray], s: State, a: Static, k: int, cal: Calendar, p: Params,
             o: Oracle) -> None:  # fmt: skip
        active, risk = rows["row"], rows["p_churn"]
        seg = a.seg[active]
        in_seg = np.isin(seg, [SEGMENTS.index(x) for x in play.segments])
        eligible = in_seg & (risk >= play.min_risk) & s.alive[active]
        held = held_out(self.ids[active], play.name, seed=self.seed, share=play.share) & eligible
        size = np.log(np.maximum(s.seats[active], 1) / p.seg("seats_median")[seg])
        logit = np.log(np.clip(risk, 1e-4, 1 - 1e-4) / (1 - np.clip(risk, 1e-4, 1 - 1e-4)))
        n = len(active)
        propensity = sigmoid(play.base + play.risk_slope * (logit + 3.0) + play.size_slope * size
                             + play.noise * self.rng.normal(0, 1, n))  # fmt: skip
        would = eligible & (self.rng.random(n) < propensity)  # what CSMs would do, held out or not
        done = would & (self.rng.random(n) < play.p_done)
        shift = np.zeros(len(s.h))
        shift[active] = np.where(eligible, np.asarray(play.effect)[seg], 0.0)
        p0, p1 = self._both(shift, s, a, k, cal, p, o)
        applied = np.zeros(len(s.h))
        applied[active[done & ~held]] = shift[active[done & ~held]]
        self.shift[play.name] = (applied, int(cal.ms(k)) + o.horizon_days)
        self.rows.append({
            "row": active, "play": np.full(n, play.name, dtype=object), "as_of": np.full(n, int(cal.ms(k))),
            "seg": seg, "eligible": eligible, "held_out": held, "acted": would & ~held, "done": done,
            "p0": p0, "p1": p1, "start": self.rng.integers(0, 10, n), "took": self.rng.integers(3, 30, n),
            "actor": self.rng.integers(0, len(ACTORS), n), "note": self.rng.integers(0, len(NOTES), n),
        })  # fmt: skip

    def _both(self, shift: np.ndarray, s: State, a: Static, k: int, cal: Calendar, p: Params,
              o: Oracle) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """P(churn) within the horizon of the month's active accounts without and with ``shift`` (on the same
        random numbers, from a stream of the plays' own)."""
        seed = int(self.rng.integers(0, 2**63))
        out = []
        for extra in (0.0, 1.0):
            state = s.copy()
            state.play_shift = s.play_shift + extra * shift
            out.append(estimate(state, a, k, cal, p, o, np.random.default_rng(seed))["p_churn"])
        return out[0], out[1]

    def tables(self, c: Chunk) -> dict[str, pa.Table]:
        """The chunk's ``play_assignments``, ``play_actions`` and ground truth ``play_effects``."""
        if not self.rows:
            return {}
        r = {k: np.concatenate([x[k] for x in self.rows]) for k in self.rows[0]}
        segment = pick(SEGMENTS, r["seg"].astype(np.int64))
        assignments = pa.table({
            "account_id": c.ids(r["row"]), "play": pa.array(r["play"].tolist(), pa.string()),
            "as_of": c.times(r["as_of"].astype(float)), "eligible": r["eligible"], "held_out": r["held_out"],
        })  # fmt: skip
        e = np.flatnonzero(r["eligible"])
        effects = pa.table({
            "account_id": c.ids(r["row"][e]), "play": pa.array(r["play"][e].tolist(), pa.string()),
            "as_of": c.times(r["as_of"][e].astype(float)), "segment": segment.take(pa.array(e)),
            "held_out": r["held_out"][e], "acted": r["acted"][e], "done": r["done"][e] & ~r["held_out"][e],
            "would_be_done": r["done"][e],  # CSMs' choice, held out or not: the play is done on these if assigned
            "p_churn_without": np.round(r["p0"][e], 6), "p_churn_with": np.round(r["p1"][e], 6),
            "effect": np.round(r["p1"][e] - r["p0"][e], 6),
        })  # fmt: skip
        return {"play_assignments": assignments, "play_actions": _actions(c, r), "play_effects": effects}


def _actions(c: Chunk, r: dict[str, np.ndarray]) -> pa.Table:
    """Two rows per play run: started, then done or abandoned."""
    i = np.flatnonzero(r["acted"])
    started = r["as_of"][i] + r["start"][i] + 0.4
    ended = started + r["took"][i]
    status = np.where(r["done"][i], "done", "abandoned")
    both = np.r_[i, i]
    return pa.table({
        "account_id": c.ids(r["row"][both]), "play": pa.array(r["play"][both].tolist(), pa.string()),
        "status": pa.array(["started"] * len(i) + status.tolist(), pa.string()),
        "actor": pick(ACTORS, r["actor"][both].astype(np.int64)), "at": c.times(np.r_[started, ended]),
        "note": pick(NOTES, np.where(np.r_[np.zeros(len(i), bool), ~r["done"][i]], 3, r["note"][both] % 3)),
    })  # fmt: skip


def write_truth(out: Path, params: Params) -> int:
    """``ground_truth/plays.parquet`` from the play definitions and the written ``play_effects``; its rows."""
    if params.plays is None:
        return 0
    effects = pd.read_parquet(out / "ground_truth" / "play_effects.parquet")
    effects["itt"] = effects.effect * effects.would_be_done
    rows = []
    for play in params.plays.plays:
        for i, seg in enumerate(SEGMENTS):
            e = effects[(effects.play == play.name) & (effects.segment == seg)]
            rows.append({
                "play": play.name, "segment": seg, "logit_shift": play.effect[i], "month": play.month,
                "share_held_out": play.share, "eligible": len(e),
                "effect_if_done": float(e.effect.mean()) if len(e) else np.nan,
                "effect_itt": float(e.itt.mean()) if len(e) else np.nan,
            })  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_parquet(out / "ground_truth" / "plays.parquet", index=False)
    return len(table)
