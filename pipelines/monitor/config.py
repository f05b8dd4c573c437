"""The monitor's thresholds, read from a TOML file (``examples/monitoring.toml`` documents every key), and the alert
row they produce. Unknown sections and keys are refused, naming the key and the closest known one."""

import difflib
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Level = Literal["warn", "alert"]
LEVELS: tuple[Level, ...] = ("warn", "alert")  # in rising order


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftConfig(_Section):
    """Drift is judged against the data's own history: each date's change since the snapshot date before it is
    compared with the same date-to-date changes over the ``history`` dates before (see
    ``pipelines/monitor/history.py``). The PSI against the champion's training rows is measured and stored in
    monitor.drift, as information: a growing customer base drifts from any fixed reference by itself."""

    history: int = Field(12, ge=2, le=60, description="consecutive-date changes (pairs of snapshot dates) before a "
                         "date that form its history")  # fmt: skip
    min_history: int = Field(12, ge=2, le=60, description="a date with fewer earlier changes than this is not "
                             "judged (12 monthly changes: a year, so yearly calendar effects are in it)")  # fmt: skip
    factor: float = Field(3.0, gt=1, description="a change this many times the largest of its history (or its "
                          "largest deviation from the history's median): an alert, if above the floor")  # fmt: skip
    min_psi: float = Field(0.1, gt=0, description="floor: a feature's PSI against the date before under this "
                           "never alerts")  # fmt: skip
    family_min_psi: float = Field(0.05, gt=0, description="floor of a family's mean PSI against the date before")
    score_min_psi: float = Field(0.1, gt=0, description="floor of p_churn's PSI against the date before")
    min_missing_change: float = Field(0.05, gt=0, le=1, description="floor of a change of a feature's missing rate "
                                      "since the date before (0.05 = 5 points)")  # fmt: skip
    min_changed_share: float = Field(0.1, gt=0, le=1, description="floor of the change of the share of accounts "
                                     "whose value of a feature changed since the date before")  # fmt: skip
    min_quarantined: int = Field(10, ge=1, description="floor of the rows of a table quarantined at ingest that "
                                 "arrived since the date before")  # fmt: skip
    bins: int = Field(10, ge=2, le=100, description="quantile bins of a numeric feature, from the earlier sample")
    ignore: tuple[str, ...] = Field((), description="features left out of the alerts (still measured)")

    @model_validator(mode="after")
    def _ordered(self) -> "DriftConfig":
        if self.min_history > self.history:
            raise ValueError(f"[drift] min_history ({self.min_history}) is above history ({self.history}): set "
                             "min_history at or below history")  # fmt: skip
        return self


RETIRED: dict[str, str] = {
    key: "drift is now judged against the data's own history, not by fixed thresholds against the training rows: "
    "use factor and min_psi, family_min_psi, score_min_psi or min_missing_change (examples/monitoring.toml)"
    for key in ("psi_warn", "psi_alert", "family_psi_warn", "family_psi_alert", "missing_rate_change",
                "score_psi_warn", "score_psi")
}  # fmt: skip
"""Keys of [drift] that earlier versions read, and what replaces them."""


class HealthConfig(_Section):
    stale_days: int = Field(14, ge=1, description="a table with rows before but none in this many days before "
                            "as_of has stopped arriving: an alert")  # fmt: skip
    stale_days_by_table: dict[str, int] = Field(
        default_factory=lambda: {"nps_responses": 60},
        description="stale_days of single tables, for those that arrive in bursts (surveys); replaces the default",
    )
    empty_day_tables: tuple[str, ...] = Field(("usage_events",), description="event tables in which a day with no "
                                              "rows is a warning")  # fmt: skip
    lookback_days: int = Field(28, ge=1, description="days before as_of searched for days with no events")
    type_drop_tables: tuple[str, ...] = Field(("usage_events",), description="event tables whose event types are "
                                              "watched for drops")  # fmt: skip
    type_drop_fraction: float = Field(0.5, gt=0, lt=1, description="an event type whose last week's count, "
                                      "relative to its trailing weekly median, is below this fraction of the "
                                      "table's own (all types together): an alert")  # fmt: skip
    trailing_weeks: int = Field(8, ge=2, description="weeks before the last one whose median is the baseline")
    type_drop_min_weekly: float = Field(20, ge=0, description="event types whose trailing median is below this "
                                        "many a week are too rare to judge")  # fmt: skip


class WebhookConfig(_Section):
    url: str = Field("", description="where the alerts are POSTed as JSON (empty: nowhere)")
    timeout_seconds: float = Field(10.0, gt=0, description="give up on the POST after this long")
    level: Level = Field("warn", description="the lowest level sent: warn (warnings and alerts) or alert")


class MonitorConfig(_Section):
    drift: DriftConfig = DriftConfig()
    health: HealthConfig = HealthConfig()
    webhook: WebhookConfig = WebhookConfig()


SECTIONS: dict[str, type[_Section]] = {"drift": DriftConfig, "health": HealthConfig, "webhook": WebhookConfig}


def load_config(path: Path | None = None) -> MonitorConfig:
    """The configuration in ``path`` (TOML), every key not given at its default; the defaults when ``path`` is
    None. Raises ValueError naming the file and the problem (an unknown section or key with the closest known one,
    a wrong type, thresholds in the wrong order)."""
    if path is None:
        return MonitorConfig()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise ValueError(f"no monitoring configuration at {path}: give an existing file (see "
                         "examples/monitoring.toml)") from e  # fmt: skip
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from e
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], where: str = "the monitoring configuration") -> MonitorConfig:
    """``load_config`` of TOML already read into a dict."""
    for section, value in data.items():
        if section not in SECTIONS:
            owner = _owner(section)
            hint = (f"; {section} belongs under [{owner}]" if owner
                    else _did_you_mean(section, SECTIONS, "sections"))  # fmt: skip
            raise ValueError(f"{where}: unknown section [{section}]{hint}")
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {section} must be a table ([{section}]), got {value!r}")
        fields = SECTIONS[section].model_fields
        for key in value:
            if key not in fields:
                if section == "drift" and key in RETIRED:
                    raise ValueError(f"{where}: the key {key!r} in [drift] is retired: {RETIRED[key]}")
                owner = _owner(key)
                hint = (f"; {key} belongs under [{owner}]" if owner and owner != section
                        else _did_you_mean(key, fields, f"keys of [{section}]"))  # fmt: skip
                raise ValueError(f"{where}: unknown key {key!r} in [{section}]{hint}")
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {at}: {first['msg']}") from e


def _owner(key: str) -> str | None:
    return next((s for s, model in SECTIONS.items() if key in model.model_fields), None)


def _did_you_mean(word: str, known: Any, what: str) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known {what}: {', '.join(known)}"


@dataclass(frozen=True)
class Alert:
    """One alert row: the as_of it is about, its kind (feature_drift, family_drift, missing_rate, changed_share,
    new_category, score_shift, quarantined, stale_table, empty_day, event_type_drop; performance checks add their
    own), its level (warn or alert), the
    subject (a feature, a family, a table, an event type, or p_churn), the measured value, the threshold it met and
    a message in plain words."""

    as_of: datetime
    kind: str
    level: Level
    subject: str
    value: float
    threshold: float
    message: str
