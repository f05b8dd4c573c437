"""The plays the generator's CSMs run (``Params.plays``; off by default): which accounts are eligible, the share
held out, how CSMs choose among the others, and each play's true effect on the churn hazard per segment.

A play runs once, at the start of month ``month`` of the data (its as_of). Eligible: active then, in one of the
play's segments, with the oracle's P(churn) within the horizon at least ``min_risk``. Held out: by
``features.holdout.held_out`` (account_id, play, the world's seed, ``share``). CSMs start the play on an eligible
account that is not held out with probability sigmoid(``base`` + ``risk_slope`` logit(p_churn) + ``size_slope``
log(seats / the segment's median) + N(0, ``noise``)): riskier and bigger accounts first, with the noise of
people; a started play is done with probability ``p_done``, else abandoned. A done play adds ``effect[segment]``
to the logit of every churn decision (at renewal and mid-term) of the account from as_of to as_of + horizon:
negative helps, positive harms.
"""

from dataclasses import dataclass

from pipelines.generate.params import SEGMENTS


@dataclass(frozen=True)
class Play:
    name: str
    month: int  # as_of: the start of this month of the data (1 or later)
    effect: tuple[float, float, float]  # true shift of the churn logit per segment (smb, mid_market, enterprise)
    segments: tuple[str, ...] = SEGMENTS
    min_risk: float = 0.04
    share: float = 0.3  # held out of the eligible accounts
    base: float = 0.5
    risk_slope: float = 0.8
    size_slope: float = 0.5
    noise: float = 1.0
    p_done: float = 0.85

    def __post_init__(self) -> None:
        if self.month < 1 or len(self.effect) != len(SEGMENTS) or not set(self.segments) <= set(SEGMENTS):
            raise ValueError(f"play {self.name!r}: month must be >= 1, effect one value per segment {SEGMENTS} and "
                             f"segments among them; got month {self.month}, effect {self.effect}, segments "
                             f"{self.segments}")  # fmt: skip


@dataclass(frozen=True)
class Plays:
    plays: tuple[Play, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.plays]
        if len(set(names)) != len(names):
            raise ValueError(f"play names must be unique, got {names}")


PLAYS = Plays((
    Play("health_check_call", month=3, effect=(-1.2, -0.9, -0.6)),  # helpful, most for small accounts
    Play("training_webinar", month=4, effect=(0.0, 0.0, 0.0)),
    Play("renewal_discount", month=5, effect=(0.0, 0.0, 0.0), segments=("mid_market", "enterprise"), min_risk=0.02),
    Play("automated_nudges", month=6, effect=(0.7, 0.4, 0.0)),  # harmful: annoys small accounts
))  # fmt: skip
"""The plays of ``churn generate --plays``: one helpful, two without effect, one harmful. Their windows need the
data to run past month 6 by the horizon and the grace period (10 months of data or more with 90-day labels)."""
