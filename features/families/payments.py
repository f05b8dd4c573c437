"""Payments: late and failed payments, what is overdue at the snapshot, how the account is billed."""

from functools import partial

from features.config import FeatureConfig
from features.registry import Family, Feature, Source, count, money
from features.sql import in_window, ratio

F = partial(Feature, family="payments")
ISSUED = "i.issued_day"
DUE = "i.due_day"
# An invoice's status is as of the export, with no time of its own: read as it is, a payment failed or an invoice
# voided after as_of would leak into the snapshot. So payments, failures and voids count from their times, and a
# failed or void status without its time is dated by these rules, the only place that reads the status (README,
# "What the features assume about your data"): a payment failed on the due day (cards are charged when due); a
# void invoice was void from its issue (never owed).
FAILED_AT = "COALESCE(failed_at, CASE WHEN status = 'failed' THEN due_at END)"
VOIDED_AT = "COALESCE(voided_at, CASE WHEN status = 'void' THEN issued_at END)"
# Owed at the snapshot: not voided before it. A failed payment leaves the invoice owed, and unpaid until paid_at.
# invoice_id IS NOT NULL: an account without invoices still has one row (the LEFT JOIN's), which owes nothing.
OWED = "(i.invoice_id IS NOT NULL AND (i.voided_time IS NULL OR i.voided_time >= s.as_of))"
PAID_BEFORE = "i.paid_at < s.as_of"
UNPAID = "(i.paid_at IS NULL OR i.paid_at >= s.as_of)"
# An invoice is late when it was paid on a day after its due day, or is still unpaid at the snapshot though due on
# an earlier day (card payments settle minutes after they are due: not late).
PAID_LATE = "i.paid_day > i.due_day"
LATE = f"{OWED} AND ((i.paid_at < s.as_of AND {PAID_LATE}) OR ({UNPAID} AND {DUE} < s.as_of_day))"


def family(cfg: FeatureConfig) -> Family:
    feats = (
        F(name="invoices_180d", description="invoices issued in the last 180 days", unit="invoices",
          sql=f"COUNT(CASE WHEN {in_window(180, 0, ISSUED)} THEN 1 END)",
          says=count("invoices issued", "in the last 180 days")),
        F(name="late_invoices_180d", description="invoices due in the last 180 days that were paid late or are unpaid",
          unit="invoices", sql=f"COUNT(CASE WHEN {in_window(180, 0, DUE)} AND {LATE} THEN 1 END)",
          says=count("invoices due in the last 180 days that were paid late or are unpaid")),
        F(name="days_late_mean_180d",
          description="mean whole days past due of invoices due in the last 180 days and paid (0 when on time)",
          unit="days",
          sql=f"AVG(CASE WHEN {in_window(180, 0, DUE)} AND {OWED} AND {PAID_BEFORE} "
              f"THEN GREATEST(0, date_diff('day', {DUE}, i.paid_day)) END)",
          says=count("mean days past due of paid invoices due", "in the last 180 days")),
        F(name="failed_payments_180d", description="failed card payments in the last 180 days", unit="payments",
          sql=f"COUNT(CASE WHEN {in_window(180, 0, 'i.failed_day')} THEN 1 END)",
          says=count("failed card payments", "in the last 180 days")),
        F(name="overdue_invoices", description="invoices past due and unpaid at the snapshot", unit="invoices",
          sql=f"COUNT(CASE WHEN {OWED} AND {UNPAID} AND {DUE} < s.as_of_day THEN 1 END)",
          says=count("invoices past due and unpaid", "at the snapshot")),
        F(name="overdue_amount", description="amount past due and unpaid at the snapshot", unit="currency",
          sql=f"COALESCE(SUM(CASE WHEN {OWED} AND {UNPAID} AND {DUE} < s.as_of_day THEN i.amount END), 0)",
          says=money("amount past due and unpaid", "at the snapshot")),
        F(name="unpaid_amount", description="amount invoiced and not yet paid at the snapshot", unit="currency",
          sql=f"COALESCE(SUM(CASE WHEN {OWED} AND {UNPAID} THEN i.amount END), 0)",
          says=money("amount invoiced and not yet paid", "at the snapshot")),
        F(name="last_invoice_amount", description="amount of the latest invoice", unit="currency",
          sql="arg_max(i.amount, i.issued_at)", says=money("amount of the latest invoice")),
    )  # fmt: skip
    derived = (
        F(name="billing_months", description="months the latest invoice covers (12: billed yearly)", unit="months",
          sql=f"ROUND({ratio('last_invoice_amount', 'mrr')})", says=count("months the latest invoice covers")),
    )  # fmt: skip
    # The days of an invoice's times are taken once per invoice, not once per snapshot that sees it: in DuckDB a
    # TIMESTAMPTZ to DATE cast goes through ICU's calendar (this source, weekly snapshots: 8.6 s -> 5.9 s).
    invoices = (
        "(SELECT *, CAST(issued_at AS DATE) AS issued_day, CAST(due_at AS DATE) AS due_day, "
        f"CAST(paid_at AS DATE) AS paid_day, CAST({FAILED_AT} AS DATE) AS failed_day, {VOIDED_AT} AS voided_time "
        "FROM raw.invoices)"
    )
    join = (
        f"spine s LEFT JOIN {invoices} i ON i.account_id = s.account_id AND i.issued_at < s.as_of "
        "AND i.issued_at >= s.as_of - INTERVAL 365 DAY"
    )
    return Family("payments", (Source("invoices", join, feats),), derived, tables=("invoices",))
