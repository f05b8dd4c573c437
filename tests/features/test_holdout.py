"""Holdouts: deterministic from (account, play, seed), the configured share within binomial noise, and
independent between plays and seeds."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

import features.holdout
from features.holdout import held_out, holdout_number

IDS = [f"A{i:07d}" for i in range(20_000)]


def test_the_same_inputs_give_the_same_assignment_in_another_process() -> None:
    here = held_out(IDS[:50], "health_check_call", seed=3, share=0.3)
    code = (
        "from features.holdout import held_out; "
        f"print(''.join('1' if x else '0' for x in held_out({IDS[:50]!r}, 'health_check_call', seed=3, share=0.3)))"
    )
    # A new interpreter has another hash() salt: the assignment must not depend on it.
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert there == "".join("1" if x else "0" for x in here)


def test_an_account_keeps_its_assignment_whatever_else_is_assigned_with_it() -> None:
    alone = [bool(held_out([a], "p", seed=1, share=0.4)[0]) for a in IDS[:100]]
    assert held_out(IDS[:100], "p", seed=1, share=0.4).tolist() == alone


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_the_share_held_out_is_the_configured_one_within_binomial_noise(share: float) -> None:
    got = held_out(IDS, "renewal_discount", seed=11, share=share).mean()
    assert abs(got - share) < 4 * np.sqrt(share * (1 - share) / len(IDS))


def test_a_larger_share_holds_out_a_superset() -> None:
    assert not (held_out(IDS, "p", seed=1, share=0.1) & ~held_out(IDS, "p", seed=1, share=0.2)).any()


def test_plays_and_seeds_are_independent() -> None:
    a = held_out(IDS, "health_check_call", seed=1, share=0.3)
    for other in (
        held_out(IDS, "training_webinar", seed=1, share=0.3),
        held_out(IDS, "health_check_call", seed=2, share=0.3),
    ):
        both = (a & other).mean()  # independent: 0.09 within binomial noise
        assert abs(both - 0.09) < 4 * np.sqrt(0.09 * 0.91 / len(IDS))
        assert abs(np.corrcoef(a, other)[0, 1]) < 4 / np.sqrt(len(IDS))


def test_the_numbers_are_uniform() -> None:
    u = np.array([holdout_number(a, "p", 0) for a in IDS])
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    chi2 = ((counts - len(IDS) / 10) ** 2 / (len(IDS) / 10)).sum()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert chi2 < 27.9  # the 99.9% point of chi-square with 9 degrees of freedom


def test_bad_shares_and_plays_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"holdout share of play 'p' must be in \[0, 1\), got 1.5"):
        held_out(IDS[:2], "p", seed=1, share=1.5)
    with pytest.raises(ValueError, match="play must be a non-empty name"):
        held_out(IDS[:2], "", seed=1)


def test_the_docstring_example_holds() -> None:
    assert doctest.testmod(features.holdout).failed == 0
