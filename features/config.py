"""Settings of the feature definitions that a company may change (not where things live: that is settings)."""

from dataclasses import dataclass

DEFAULT_MILESTONES = (
    "integration_connected", "first_report_created", "first_teammate_invited", "first_workflow_automated",
)  # fmt: skip


@dataclass(frozen=True)
class FeatureConfig:
    """``milestones``: usage event types that count as success milestones; ``onboarding_days``: within how many
    days of sign-up a milestone counts as reached during onboarding; ``login_event``: the usage event type of a
    login. Milestone names must be plain identifiers (letters, digits, underscores)."""

    milestones: tuple[str, ...] = DEFAULT_MILESTONES
    onboarding_days: int = 90
    login_event: str = "login"

    def __post_init__(self) -> None:
        for name in (*self.milestones, self.login_event):
            if not name.replace("_", "").isalnum():
                raise ValueError(f"event type {name!r} must be letters, digits and underscores only")
        if not self.milestones:
            raise ValueError("milestones must name at least one usage event type")
        if self.onboarding_days < 1:
            raise ValueError(f"onboarding_days must be >= 1, got {self.onboarding_days}")
