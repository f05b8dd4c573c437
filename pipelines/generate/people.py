"""Accounts (firmographics, owner, touch model) and contacts (champions who come and go, admins, users)."""

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.generate.chunk import Chunk, nullable_times, pick
from pipelines.generate.latent import NO_DAY
from pipelines.generate.params import INDUSTRIES, REGIONS, SEGMENTS, TOUCH_MODELS

FIRST = ("Blue", "North", "Bright", "Iron", "Silver", "Green", "Swift", "Clear", "True", "Summit", "Harbor", "Cedar",
         "Atlas", "Nova", "Prime", "Vertex", "Pioneer", "Granite", "Maple", "Orbit")  # fmt: skip
SECOND = ("Labs", "Works", "Systems", "Health", "Logistics", "Foods", "Capital", "Retail", "Media", "Robotics",
          "Analytics", "Partners", "Energy", "Studio", "Networks", "Supply", "Learning", "Motors")  # fmt: skip
SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Co")
HIGH_TOUCH_CSMS = ("Ana Ruiz", "Ben Carter", "Chloe Martin", "Dev Patel", "Emma Schulz", "Farid Haddad")
POOLED_CSMS = ("Grace Kim", "Hugo Silva", "Iris Novak")
PROMOTED = 0.5  # share of replacement champions who were users of the account before (``role_since``)


def accounts(c: Chunk) -> pa.Table:
    rng = c.rng("accounts")
    a = c.hist.static
    n = c.n
    words = zip(
        rng.integers(0, len(FIRST), n), rng.integers(0, len(SECOND), n), rng.integers(0, len(SUFFIX), n), strict=True
    )
    name = pa.array([f"{FIRST[i]} {SECOND[j]} {SUFFIX[k]}" for i, j, k in words])
    touch = np.where(a.seg == 2, 2, np.where(a.seg == 1, np.where(rng.random(n) < 0.3, 2, 1), 0))
    high = rng.integers(0, len(HIGH_TOUCH_CSMS), n)
    pooled = rng.integers(0, len(POOLED_CSMS), n)
    owners = (*HIGH_TOUCH_CSMS, *POOLED_CSMS, "Digital CS")
    owner = np.where(touch == 2, high, np.where(touch == 1, len(HIGH_TOUCH_CSMS) + pooled, len(owners) - 1))
    return pa.table({
        "account_id": c.account_ids,
        "created_at": c.times(a.created),
        "name": name,
        "segment": pick(SEGMENTS, a.seg),
        "industry": pick(INDUSTRIES, rng.choice(len(INDUSTRIES), n)),
        "region": pick(REGIONS, a.region),
        "csm_owner": pick(owners, owner),
        "touch_model": pick(TOUCH_MODELS, touch),
    })  # fmt: skip


def contacts(c: Chunk) -> pa.Table:
    """Champions in succession (each leaves on the day the latent process says, a new one arrives later, or a user
    of the account is promoted then: ``role_since``), one or two admins, and a few users. A promotion after the
    end of the data is not known yet: that contact is still a user."""
    rng = c.rng("contacts")
    a, lg = c.hist.static, c.hist.logs
    n_days = c.cal.n_days
    # Champions alternate: found (or there at sign-up), left, found, left ... so the k-th arrival pairs with the
    # k-th departure of the same account.
    fr, fm = np.nonzero(lg["champion_found"] > NO_DAY)
    lr, lm = np.nonzero(lg["champion_left"] > NO_DAY)
    first = np.flatnonzero(a.champion0)
    arrivals = _numbered(
        pd.DataFrame({"row": np.r_[first, fr], "start": np.r_[a.created[first], lg["champion_found"][fr, fm]],
                      "replacement": np.r_[np.zeros(len(first), bool), np.ones(len(fr), bool)]})
    )  # fmt: skip
    departures = _numbered(pd.DataFrame({"row": lr, "end": lg["champion_left"][lr, lm]}))
    champ = arrivals.merge(departures, on=["row", "k"], how="left")
    champ["end"] = champ["end"].fillna(NO_DAY).astype(np.int64)
    # Admins (two at enterprises) and up to three users, present from sign-up.
    admins = np.repeat(np.arange(c.n), np.where(a.seg == 2, 2, 1))
    users = np.repeat(np.arange(c.n), np.minimum(a.seats0, 3))
    user_start = a.created[users] + rng.integers(0, 60, len(users))
    # A replacement champion promoted from a user: there since the account's first weeks, champion since found.
    found = champ["start"].to_numpy()
    before = a.created[champ["row"].to_numpy()] + rng.integers(0, 60, len(champ))
    promoted = champ["replacement"].to_numpy() & (rng.random(len(champ)) < PROMOTED) & (before < found)
    row = np.r_[champ["row"].to_numpy(), admins, users]
    start = np.r_[np.where(promoted, before, found), a.created[admins], user_start]
    since = np.r_[np.where(promoted, found, NO_DAY), np.full(len(admins) + len(users), NO_DAY)]
    end = np.r_[champ["end"].to_numpy(), np.full(len(admins) + len(users), NO_DAY)]
    role = np.r_[np.zeros(len(champ), np.int64), np.ones(len(admins), np.int64), np.full(len(users), 2)]
    role = np.where((since > NO_DAY) & (since >= n_days), 2, role)
    keep = start < n_days
    order = np.lexsort((role[keep], start[keep], row[keep]))
    row, start, since, end, role = (x[keep][order] for x in (row, start, since, end, role))
    gone = (end > NO_DAY) & (end < n_days)
    raised = (since > NO_DAY) & (since < n_days)
    return pa.table({
        "contact_id": c.child_ids(row, "c"),
        "account_id": c.ids(row),
        "role": pick(("champion", "admin", "user"), role),
        "created_at": c.times(start),
        "left_at": nullable_times(c, end, gone),
        "role_since": nullable_times(c, since, raised),
    })  # fmt: skip


def _numbered(df: pd.DataFrame) -> pd.DataFrame:
    """Sorted by account and day, with ``k`` = 0, 1, 2 ... within each account."""
    df = df.sort_values(["row", df.columns[1]])
    return df.assign(k=df.groupby("row").cumcount())
