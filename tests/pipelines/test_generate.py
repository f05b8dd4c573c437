"""The generator: deterministic, plausible rates, signals that carry information, an oracle that knows."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.labels import LABELS
from pipelines.generate.run import TABLES, generate
from pipelines.generate.simulate import Oracle
from tests.features.reference_labels import Term, service_end

TABLE_FILES = [*TABLES, "ground_truth/health", "ground_truth/oracle"]
pytestmark = pytest.mark.slow  # about 20 s: a 6,000-account dataset


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """6,000 accounts over 24 months: big enough for rates by segment to be stable to a few tenths of a point."""
    out = tmp_path_factory.mktemp("generated")
    generate(out, accounts=6000, months=24, seed=11, oracle=Oracle(paths=60))
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLE_FILES}


def _read_all(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pq.read_table(folder / f"{name}.parquet").to_pandas() for name in TABLE_FILES}


def test_same_seed_same_data_whatever_the_workers(tmp_path: Path) -> None:
    kwargs = dict(accounts=2100, months=6, seed=3, oracle=Oracle(paths=8))  # two chunks
    generate(tmp_path / "a", workers=1, **kwargs)  # type: ignore[arg-type]
    generate(tmp_path / "b", workers=2, **kwargs)  # type: ignore[arg-type]
    generate(tmp_path / "c", workers=2, **{**kwargs, "seed": 4})  # type: ignore[arg-type]
    a, b, c = _read_all(tmp_path / "a"), _read_all(tmp_path / "b"), _read_all(tmp_path / "c")
    for name in TABLE_FILES:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    assert not a["usage_events"].equals(c["usage_events"])
    assert (tmp_path / "a" / "manifest.json").read_text() == (tmp_path / "b" / "manifest.json").read_text()


def test_bad_arguments_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"first day of a month.*2024-01-01"):
        generate(tmp_path, accounts=10, start=date(2024, 1, 15))
    with pytest.raises(ValueError, match="months must be at least 4"):
        generate(tmp_path, accounts=10, months=2)
    with pytest.raises(ValueError, match="accounts must be at least 1"):
        generate(tmp_path, accounts=0)


def _account_end(subs: pd.DataFrame) -> pd.Series:
    """When each churned account's service ended for good, by the churn label's own definition
    (``tests.features.reference_labels.service_end``): the end of its last stretch of service, rows separated by
    at most the grace period counting as one stretch; accounts still served are left out."""
    grace = pd.Timedelta(days=LABELS.grace_days)
    out = {}
    for account_id, rows in subs.groupby("account_id"):
        terms = [Term(a, None if pd.isna(b) else b, 0.0, 1) for a, b in zip(rows.start_at, rows.end_at, strict=True)]
        last = max(t.start for t in terms) + pd.Timedelta(microseconds=1)  # inside the latest row
        end = service_end(terms, last, grace)
        if end is not None:
            out[account_id] = end
    return pd.Series(out, dtype="datetime64[us, UTC]")


def _monthly_outcomes(d: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per (account, month start) active then: did the account churn within that month? Plain pandas."""
    subs, acc = d["subscriptions"], d["accounts"]
    months = pd.date_range("2024-01-01", periods=24, freq="MS", tz="UTC")
    end = _account_end(subs)
    rows = []
    for t in months:
        on = subs[(subs.start_at <= t) & (subs.end_at.isna() | (subs.end_at > t))]["account_id"].unique()
        e = end.reindex(on).reset_index(drop=True)
        rows.append(pd.DataFrame({"account_id": on, "month": t, "churn": (e >= t) & (e < t + pd.DateOffset(months=1))}))
    out = pd.concat(rows)
    return out.merge(acc[["account_id", "segment"]], on="account_id")


def test_monthly_logo_churn_by_segment_is_in_saas_ranges(base: dict[str, pd.DataFrame]) -> None:
    # Published SaaS benchmarks: SMB loses 3-5% of logos a month, mid-market 1-2%, enterprise under 1%.
    # The generator is calibrated to about 3.2%, 1.1% and 0.5%; the bands leave room for sampling noise.
    rate = _monthly_outcomes(base).groupby("segment")["churn"].mean()
    assert 0.022 <= rate["smb"] <= 0.045, rate
    assert 0.006 <= rate["mid_market"] <= 0.02, rate
    assert 0.001 <= rate["enterprise"] <= 0.01, rate
    assert rate["smb"] > rate["mid_market"] > rate["enterprise"]


def test_annual_contracts_churn_mostly_at_renewal(base: dict[str, pd.DataFrame]) -> None:
    # Annual accounts are those whose first invoice bills twelve months of their first subscription.
    subs, inv, acc = base["subscriptions"], base["invoices"], base["accounts"]
    first_sub = subs.sort_values("start_at").groupby("account_id").first()
    first_inv = inv.sort_values("issued_at").groupby("account_id")["amount"].first()
    annual = (first_inv / first_sub["mrr"].reindex(first_inv.index)).round() == 12
    end = _account_end(subs)
    end = end[end.index.isin(annual[annual].index)]
    created = acc.set_index("account_id")["created_at"].reindex(end.index)
    months = (end.dt.year - created.dt.year) * 12 + (end.dt.month - created.dt.month)
    on_anniversary = (months % 12 == 0) & (end.dt.day == np.minimum(created.dt.day, 28))
    assert len(end) > 100
    assert on_anniversary.mean() >= 0.7, on_anniversary.mean()  # the rest churned mid-term
    assert on_anniversary.mean() < 1.0


def test_expansion_payment_email_and_nps_rates_are_plausible(base: dict[str, pd.DataFrame]) -> None:
    inv, email, nps, tickets = (
        base["invoices"],
        base["email_events"],
        base["nps_responses"],
        base["support_tickets"],
    )
    # Failed card payments: a few percent of invoices; late invoice payments: a minority (B2B: 10-30%).
    assert 0.003 <= (inv.status == "failed").mean() <= 0.05
    billed = inv[(inv.status == "paid") & (inv.due_at > inv.issued_at)]
    late = (billed.paid_at > billed.due_at).mean()
    assert 0.05 <= late <= 0.35, late
    # B2B email: opens 15-50% of sends, clicks 10-40% of opens.
    counts = email.event.value_counts()
    assert 0.15 <= counts["open"] / counts["sent"] <= 0.5
    assert 0.1 <= counts["click"] / counts["open"] <= 0.4
    assert 6.0 <= nps.score.mean() <= 9.0 and nps.score.between(0, 10).all()
    # Urgent and high tickets are the minority; CSAT averages around 4 of 5.
    assert tickets.priority.isin(["high", "urgent"]).mean() < 0.4
    assert 3.5 <= tickets.csat.mean() <= 4.5
    # Ticket volume: well under one ticket per account-month for a product like this.
    active_months = base["ground_truth/health"].shape[0]
    assert 0.1 <= len(tickets) / active_months <= 1.0


def test_weekends_and_holidays_are_quiet(base: dict[str, pd.DataFrame]) -> None:
    day = base["usage_events"].ts.dt.floor("D").value_counts().sort_index()
    weekday = day[day.index.day_of_week < 5].mean()
    assert day[day.index.day_of_week >= 5].mean() < 0.3 * weekday
    december = day[(day.index.month == 12) & (day.index.day.isin(range(2, 21))) & (day.index.day_of_week < 5)]
    christmas = day[(day.index.month == 12) & (day.index.day == 25)]
    assert (christmas < 0.5 * december.mean()).all()


def test_churners_show_falling_activity_beforehand(base: dict[str, pd.DataFrame]) -> None:
    ev = base["usage_events"]
    end = _account_end(base["subscriptions"])
    start = pd.Timestamp("2024-01-01", tz="UTC")
    churners = end[(end > start + pd.Timedelta(days=150)) & (end < start + pd.Timedelta(days=700))]
    assert len(churners) > 300
    rng = np.random.default_rng(0)
    alive = base["subscriptions"].groupby("account_id")["end_at"].apply(lambda s: s.isna().any())
    stayers = alive[alive].index.to_numpy()
    # Stayers get a random pseudo end date, so both groups are measured over comparable windows.
    pseudo = pd.Series(start + pd.to_timedelta(rng.integers(200, 700, len(stayers)), unit="D"), index=stayers)

    def ratio(ends: pd.Series) -> float:
        e = ev[ev.account_id.isin(ends.index)].assign(end=lambda f: f.account_id.map(ends))
        days = (e.end - e.ts).dt.days
        recent = e[days.between(0, 29)].groupby("account_id").size()
        before = e[days.between(60, 119)].groupby("account_id").size() / 2
        both = pd.concat([recent, before], axis=1).fillna(0)
        both = both[both.iloc[:, 1] > 0]
        return float(both.iloc[:, 0].sum() / both.iloc[:, 1].sum())

    churn_ratio, stay_ratio = ratio(churners), ratio(pseudo)
    assert churn_ratio < 0.85, churn_ratio
    assert churn_ratio < stay_ratio - 0.1, (churn_ratio, stay_ratio)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties get average ranks)."""
    ranks = pd.Series(score).rank().to_numpy()
    pos = label.astype(bool)
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def test_oracle_ranks_and_is_calibrated_against_what_happened(base: dict[str, pd.DataFrame]) -> None:
    o = base["ground_truth/oracle"]
    end = _account_end(base["subscriptions"])
    o = o[o.as_of <= pd.Timestamp("2025-10-01", tz="UTC")]  # the 90 days after as_of lie inside the data
    e = o.account_id.map(end)
    churned = ((e > o.as_of) & (e <= o.as_of + pd.Timedelta(days=90))).to_numpy()
    assert _auc(o.p_churn.to_numpy(), churned) > 0.8
    assert abs(o.p_churn.mean() - churned.mean()) < 0.15 * churned.mean()


def test_latent_health_drives_expansion(base: dict[str, pd.DataFrame]) -> None:
    h, subs = base["ground_truth/health"], base["subscriptions"]
    ups = subs.sort_values("start_at").assign(prev=lambda f: f.groupby("account_id").mrr.shift())
    grew = ups[ups.mrr > 1.1 * ups.prev][["account_id", "start_at"]]
    grew = grew.assign(
        month=grew.start_at.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp().dt.tz_localize("UTC")
    )
    m = h.merge(grew[["account_id", "month"]].drop_duplicates().assign(grew=True), how="left")
    m["grew"] = m.grew.notna()
    assert m.grew.mean() > 0.01
    assert m[m.grew].health.mean() > m[~m.grew].health.mean() + 0.3
