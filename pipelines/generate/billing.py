"""Subscriptions and invoices, read off each account's contract history."""

import numpy as np
import pyarrow as pa

from pipelines.generate.chunk import Chunk, nullable_times, pick
from pipelines.generate.latent import NEVER, NO_DAY, sigmoid
from pipelines.generate.params import PLANS


def boundaries(c: Chunk) -> dict[str, np.ndarray]:
    """Where one subscription row ends and the next begins: a seats or plan change, an annual renewal, a lapse.

    A lapse ends the row on the renewal day and the next row starts when the late payment arrives.
    """
    lg, a = c.hist.logs, c.hist.static
    signup = lg["renew_day"] == a.created[:, None]
    renewal = (lg["renew_day"] > NO_DAY) & ~signup & (lg["churn_kind"] != 3)
    is_b = (lg["change_day"] > NO_DAY) | (renewal & a.annual[:, None]) | (renewal & (lg["lapse_gap"] > 0))
    row, col = np.nonzero(is_b)
    day = np.where(lg["change_day"][row, col] > NO_DAY, lg["change_day"][row, col], lg["renew_day"][row, col])
    order = np.lexsort((day, row))
    row, col, day = row[order], col[order], day[order]
    return {
        "row": row, "end": day, "start": day + lg["lapse_gap"][row, col],
        "seats": lg["seats_after"][row, col], "price": lg["price_after"][row, col], "plan": lg["plan_after"][row, col],
    }  # fmt: skip


def subscription_rows(c: Chunk) -> dict[str, np.ndarray]:
    """One row per stretch of unchanged terms: account row, start, end (-1 open), seats, price, plan, status."""
    a, fin = c.hist.static, c.hist.final
    b = boundaries(c)
    n = c.n
    row = np.r_[np.arange(n), b["row"]]
    start = np.r_[a.created, b["start"]]
    key = np.r_[np.full(n, -(2**40)), b["end"]]
    order = np.lexsort((key, row))
    row, start = row[order], start[order]
    seats = np.r_[a.seats0, b["seats"]][order]
    price = np.r_[_price0(c), b["price"]][order]
    plan = np.r_[a.plan0, b["plan"]][order]
    last = np.r_[row[1:] != row[:-1], True]
    nxt_end = np.r_[key[order][1:], 0]
    cancel = c.hist.logs["cancel_day"].max(axis=1)
    scheduled = np.where(fin.end < NEVER, fin.end, np.where(fin.pending_end < NEVER, fin.pending_end, NO_DAY))
    end = np.where(last, scheduled[row], nxt_end)
    status = np.where(~last, 1, np.where(~fin.alive[row] & (end < c.cal.n_days), 2, 0))  # active, ended, cancelled
    keep = start < c.cal.n_days  # a lapse may end after the data does
    return {
        "row": row[keep], "start": start[keep], "end": end[keep], "seats": seats[keep], "price": price[keep],
        "plan": plan[keep], "status": status[keep], "cancel": np.where(last, cancel[row], NO_DAY)[keep],
    }  # fmt: skip


def _price0(c: Chunk) -> np.ndarray:
    a = c.hist.static
    return c.p.seg("plan_price")[a.plan0] * c.p.seg("discount")[a.seg]


def subscriptions(c: Chunk) -> pa.Table:
    s = subscription_rows(c)
    has_cancel = (s["cancel"] > NO_DAY) & (s["cancel"] < c.cal.n_days)
    return pa.table({
        "subscription_id": c.child_ids(s["row"], "s"),
        "account_id": c.ids(s["row"]),
        "start_at": c.times(s["start"]),
        "end_at": nullable_times(c, s["end"], s["end"] > NO_DAY),
        "cancelled_at": nullable_times(c, np.minimum(s["cancel"], np.maximum(s["end"], 0)), has_cancel),
        "mrr": np.round(s["seats"] * s["price"], 2),
        "seats": s["seats"].astype(np.int64),
        "plan": pick(PLANS, s["plan"]),
        "status": pick(("active", "ended", "cancelled"), s["status"]),
    })  # fmt: skip


def invoices(c: Chunk) -> pa.Table:
    """An invoice per sign-up and renewal (a year ahead on annual terms), and a prorated one per mid-term expansion.

    Card payers pay on the day or fail (``failed_at``: the charge, on the due day); a recovered failure is charged
    again a few days later and paid then. Invoice payers pay within net terms, late more often when money is tight.
    A few invoices are voided within their terms (``voided_at``), unpaid. A state whose time lies past the end of
    the data is not known yet: such an invoice is open.
    """
    lg, a, p = c.hist.logs, c.hist.static, c.p
    n_days = c.cal.n_days
    rng = c.rng("invoices")
    row, col = np.nonzero(lg["renew_day"] > NO_DAY)
    issued = lg["renew_day"][row, col]
    months = np.where(a.annual[row], 12, 1)
    amount = lg["seats_after"][row, col] * lg["price_after"][row, col] * months
    fail = lg["card_fail"][row, col]
    lapse = lg["lapse_gap"][row, col]
    # Prorated invoices for seats added mid-term on annual contracts.
    er, ec = np.nonzero((lg["change_day"] > NO_DAY) & (lg["renew_day"] == NO_DAY) & a.annual[:, None])
    added = (lg["seats_after"][er, ec] - lg["seats_start"][er, ec]) * lg["price_after"][er, ec]
    left = 12 - ((ec - c.signup_col()[er]) % 12)  # months left in the annual term
    er, ec, added, left = er[added > 0], ec[added > 0], added[added > 0], left[added > 0]
    # Recovered card failures are charged again a few days later: each retry is drawn as a row of its own (the
    # random streams of the rows stay as they were), then folded into its invoice as that invoice's payment.
    recovered = np.flatnonzero(fail == 1)
    rr, rc = row[recovered], col[recovered]
    retry = issued[recovered] + rng.integers(1, 6, len(rr))
    row = np.r_[row, er, rr]
    issued = np.r_[issued, lg["change_day"][er, ec], retry]
    amount = np.r_[amount, added * left, amount[recovered]]
    fail = np.r_[fail, np.zeros(len(er) + len(rr), np.int8)]
    lapse = np.r_[lapse, np.zeros(len(er) + len(rr), np.int64)]
    month = np.r_[col, ec, rc]
    n = len(row)
    card = a.card[row]
    net = np.where(card, 0, p.seg("net_terms_days")[a.seg[row]])
    h, budget = lg["h_end"][row, month], lg["budget_start"][row, month]
    late = ~card & (rng.random(n) < sigmoid(-2.4 + 2.5 * a.pay_risk[row] + 1.5 * budget - 0.7 * h))
    days_late = 1 + rng.exponential(12.0, n) * (1 + budget)
    charged = issued + rng.random(n) * np.maximum(net, 0.02)  # when paid on time (for card payers: the charge)
    paid = np.where(late, issued + net + days_late, charged)
    paid = np.where(lapse > 0, issued + lapse, paid)  # service resumed when the late payment came in
    void = (rng.random(n) < p.p_void) & (fail == 0)
    voided = issued + rng.random(n) * np.maximum(net, 1.0)
    originals = n - len(rr)  # the retry rows come last
    paid[recovered] = paid[originals:]
    paid[(fail == 2) | void] = np.inf  # lost failures and void invoices are never paid
    failed = (fail > 0) & (charged < n_days)
    # paid, open, failed, void: as known at the end of the data
    status = np.where(paid < n_days, 0, np.where(failed, 2, np.where(void & (voided < n_days), 3, 1)))
    keep = (issued < n_days) & (np.arange(n) < originals)
    order = np.lexsort((issued[keep], row[keep]))
    row, issued, net, amount, paid, charged, voided, status, failed = (
        x[keep][order] for x in (row, issued, net, amount, paid, charged, voided, status, failed)
    )
    return pa.table({
        "invoice_id": c.child_ids(row, "i"),
        "account_id": c.ids(row),
        "issued_at": c.times(issued),
        "due_at": c.times(issued + net),
        "amount": np.round(amount, 2),
        "paid_at": nullable_times(c, paid, status == 0),
        "status": pick(("paid", "open", "failed", "void"), status),
        "failed_at": nullable_times(c, charged, failed),
        "voided_at": nullable_times(c, voided, status == 3),
    })  # fmt: skip
