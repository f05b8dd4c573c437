"""Holdouts of plays: whether an eligible account is held out of a play, decided from (account_id, play, seed)
alone, so that the scores, the generator and the effects read the same assignment without storing a draw.

The number is the first 8 bytes of BLAKE2b over ``"{seed}|{play}|{account_id}"`` read as an unsigned 64-bit
integer, divided by 2**64: a uniform number in [0, 1) that is the same on every machine and in every process
(Python's ``hash()`` is salted per process and must never decide this). An account is held out when its number is
below the play's share, so a share of 0.2 holds out about 20% of the eligible accounts, independently per play
(the play is part of the hashed text) and per seed. Eligibility is the caller's: the function only says which of
the eligible accounts are held out.

Example::

    >>> held_out(["A0000001", "A0000003"], "health_check_call", seed=7, share=0.5).tolist()
    [True, False]
"""

import hashlib
from collections.abc import Iterable

import numpy as np

HOLDOUT_SHARE = 0.2  # default share of the eligible accounts held out of each play


def holdout_number(account_id: str, play: str, seed: int) -> float:
    """The account's uniform number in [0, 1) for ``play`` under ``seed``."""
    text = f"{seed}|{play}|{account_id}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2.0**64


def held_out(account_ids: Iterable[object], play: str, *, seed: int, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """Per account (in order), whether it is held out of ``play``: its ``holdout_number`` is below ``share``."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the holdout share of play {play!r} must be in [0, 1), got {share}")
    if not play:
        raise ValueError("play must be a non-empty name")
    return np.array([holdout_number(str(a), play, seed) < share for a in account_ids], dtype=bool)
