"""Settings of the feature definitions that a company may change (not where things live: that is settings).

``FeatureConfig`` holds them resolved: the event types counted one by one are named, not discovered (the features
file and the data resolve into it, ``features.config_file``). It is hashable: ``features.catalog.families`` is
cached on it."""

from dataclasses import asdict, dataclass
from typing import Any

from features.event_types import EventType, Ratio

DEFAULT_MILESTONES = (
    "integration_connected", "first_report_created", "first_teammate_invited", "first_workflow_automated",
)  # fmt: skip


@dataclass(frozen=True)
class FeatureConfig:
    """``milestones``: usage event types that count as success milestones; ``onboarding_days``: within how many
    days of sign-up a milestone counts as reached during onboarding; ``login_event``: the usage event type of a
    login; ``event_types``: the types counted one by one (``features.event_types``; the one ``rest`` type counts
    all others); ``ratios``: named ratios between them. Milestone names must be plain identifiers (letters, digits,
    underscores): they name features."""

    milestones: tuple[str, ...] = DEFAULT_MILESTONES
    onboarding_days: int = 90
    login_event: str = "login"
    event_types: tuple[EventType, ...] = ()
    ratios: tuple[Ratio, ...] = ()

    def __post_init__(self) -> None:
        for name in self.milestones:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"milestone {name!r} must be letters, digits and underscores only")
        if not self.login_event:
            raise ValueError("login_event must name a usage event type")
        if not self.milestones:
            raise ValueError("milestones must name at least one usage event type")
        if self.onboarding_days < 1:
            raise ValueError(f"onboarding_days must be >= 1, got {self.onboarding_days}")
        columns = [t.column for t in self.event_types]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            names = [t.name for t in self.event_types if t.column in twice]
            raise ValueError(
                f"event types {names} all name their features {twice}: give each its own column in the features "
                'file ([types.NAME] column = "...")'
            )
        counted = {t.name for t in self.event_types if not t.rest}
        for r in self.ratios:
            for side in (r.numerator, r.denominator):
                if side not in counted:
                    raise ValueError(f"ratio {r.name!r} reads event type {side!r}, which is not counted")

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): what a build stores so that later commands read the same definitions."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        return cls(
            milestones=tuple(data["milestones"]), onboarding_days=int(data["onboarding_days"]),
            login_event=str(data["login_event"]), event_types=tuple(EventType(**t) for t in data["event_types"]),
            ratios=tuple(Ratio(**r) for r in data["ratios"]),
        )  # fmt: skip
