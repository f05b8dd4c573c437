"""The generator's knobs: segment mixes, prices, and the rates that drive the latent health process.

Rates are per month unless named otherwise. They were calibrated so that the default dataset has monthly logo
churn of about 3% for SMB, 1.2% for mid-market and 0.5% for enterprise (see ``tests/pipelines/test_generate.py``).
"""

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from pipelines.generate.type_mix import TypeMix

if TYPE_CHECKING:  # playbook reads the segments from here
    from pipelines.generate.playbook import Plays

SEGMENTS = ("smb", "mid_market", "enterprise")  # index 0, 1, 2
PLANS = ("starter", "growth", "enterprise")
REGIONS = ("NA", "EMEA", "APAC")
TOUCH_MODELS = ("tech", "low", "high")
INDUSTRIES = (
    "software",
    "retail",
    "healthcare",
    "finance",
    "manufacturing",
    "education",
    "media",
    "logistics",
)
MILESTONES = (
    "integration_connected",
    "first_report_created",
    "first_teammate_invited",
    "first_workflow_automated",
)
FEATURES = (
    "dashboard_view", "report_run", "search", "comment", "export", "task_created",
    "file_upload", "workflow_run", "api_call", "integration_sync", "admin_settings", "mobile_session",
)  # fmt: skip
TICKET_CATEGORIES = ("how_to", "bug", "billing", "integration", "access", "performance")


@dataclass(frozen=True)
class Params:
    """All rates of the generator. Arrays are indexed by segment (smb, mid_market, enterprise)."""

    segment_mix: tuple[float, ...] = (0.62, 0.28, 0.10)
    preexisting_share: float = 0.30  # accounts created before the data starts (up to 36 months before)
    annual_share: tuple[float, ...] = (0.20, 0.60, 0.90)
    seats_median: tuple[float, ...] = (4.0, 25.0, 120.0)
    seats_log_sd: tuple[float, ...] = (0.6, 0.5, 0.6)
    plan_mix: tuple[tuple[float, ...], ...] = ((0.75, 0.25, 0.0), (0.25, 0.6, 0.15), (0.0, 0.3, 0.7))
    plan_price: tuple[float, ...] = (15.0, 35.0, 60.0)  # list price per seat per month
    discount: tuple[float, ...] = (1.0, 0.92, 0.78)
    champion_at_start: tuple[float, ...] = (0.6, 0.75, 0.85)
    region_mix: tuple[float, ...] = (0.55, 0.30, 0.15)
    region_utc_offset: tuple[float, ...] = (-6.0, 1.0, 8.0)
    # latent health: h' = h + pull * (target - h) + noise; target = mu + milestone bonus - penalties
    mu_mean: float = 0.3
    mu_sd: float = 0.6
    pull: float = 0.3
    noise_sd: float = 0.45
    milestone_bonus: float = 0.2
    onboarding_drag: float = 0.4
    no_champion_penalty: float = 0.7
    pending_cancel_penalty: float = 1.2
    p_champion_leaves: float = 0.02
    p_champion_found: float = 0.25
    p_bad_support: float = 0.025
    bad_support_jump: float = -0.6
    p_budget_cut: float = 0.008
    budget_cut_jump: float = -0.4
    budget_decay: float = 0.8
    p_milestone: float = 0.5  # per month of onboarding, times sigmoid(1.5 h + 0.5)
    # churn: at renewal, P = sigmoid(base - health_slope * h + budget_slope * budget)
    churn_base_monthly: tuple[float, ...] = (-4.0, -4.4, -5.0)
    churn_base_annual: tuple[float, ...] = (-2.0, -2.2, -2.8)
    churn_health_slope: float = 1.3
    churn_budget_slope: float = 1.5
    churn_drop_slope: float = 1.5  # per unit that h has fallen below its usual level
    usual_pull: float = 0.15
    midterm_base: tuple[float, ...] = (-6.5, -7.2, -8.0)
    midterm_health_slope: float = 1.5  # mid-term churn: P = sigmoid(base - slope * h + drop slope * drop)
    p_card_fail: float = 0.03
    p_card_fail_lost: float = 0.45  # failed card payments never recovered: involuntary churn a week later
    p_lapse: float = 0.006
    p_downgrade: float = 0.01
    p_upgrade: float = 0.03
    p_expand: float = 0.11  # times growth potential and sigmoid(3 (h - 0.6))
    demand_slope: float = 4.0  # how strongly unmet demand for seats (growth x headroom) fills seats in use
    # observables
    events_per_seat_day: float = 0.09
    tickets_per_month: float = 0.12
    emails_per_month: int = 4
    nps_response_rate: float = 0.3
    net_terms_days: tuple[int, ...] = (15, 30, 30)
    p_void: float = 0.004
    notice_days: tuple[int, int] = (30, 60)  # annual terms; monthly terms give no notice
    # the type-mix world (``type_mix``): usage events of eight types whose mix drives churn; None: the demo's events
    type_mix: TypeMix | None = None
    # plays run by CSMs on eligible accounts, with holdouts and known effects (``playbook``); None: no plays
    plays: "Plays | None" = None

    def seg(self, name: str) -> np.ndarray:
        """A per-segment parameter as an array indexed by segment."""
        return np.asarray(getattr(self, name))


TYPE_MIX = replace(
    Params(),
    type_mix=TypeMix(),
    churn_health_slope=0.5,  # the mix, not health (and so not volume), is the main driver of churn
    midterm_health_slope=0.6,
    # lower bases: the mix's utility spreads the churn logits (its standard deviation is about 2.7)
    churn_base_monthly=(-5.6, -6.3, -7.1),
    churn_base_annual=(-3.6, -4.1, -4.9),
    midterm_base=(-7.9, -8.9, -9.9),
    events_per_seat_day=0.18,  # a social product: more events per seat, enough to read an account's mix
    p_milestone=0.0,  # a product without the demo's milestones
    milestone_bonus=0.0,
)
WORLDS = {"default": Params(), "type-mix": TYPE_MIX}
"""The worlds ``churn generate --world`` writes: the demo's, and one whose mix of event types drives churn."""
