"""The type-mix world: a product with eight usage event types whose mix, not its volume, drives churn.

Each account has a mix over the event types of its own, drawn at sign-up, and a friction level that drifts month
to month: the share of its events drawn instead from the friction mix (errors and unfriends). The types of its
usage events are drawn from each month's mix, ``(1 - friction) * own + friction * friction mix``. The mix's
utility (the per-type utilities weighted by the shares, less that of the mean mix) lowers the churn logit inside
the latent transition (``latent.step``), so that the oracle, which replays that transition, knows it exactly.
Being linear in the shares, the utility of a month is ``(1 - friction) * own utility + friction * friction
utility``: the transition tracks one number per account, which keeps the oracle's futures as cheap as in the
default world. Plain numpy here: ``latent`` and ``params`` import this module.
"""

from dataclasses import dataclass

import numpy as np

EVENT_TYPES = (
    "login", "post_created", "comment_added", "reply_sent", "file_shared", "invite_sent", "error_shown", "unfriend",
)  # fmt: skip


@dataclass(frozen=True)
class TypeMix:
    """The mix of event types and what it does to churn; tuples are indexed like ``EVENT_TYPES``.

    ``share`` and ``spread``: an account's own mix has the logits of ``share`` plus normal noise of ``spread``.
    ``utility``: how much a share of 1 of the type lowers the churn logit (negative: raises it), relative to the
    mean mix (``mean_mix``); with the defaults, 5 points of share moved from login to reply_sent lower it by 0.6,
    to unfriend raise it by 1.4, and the utility of the accounts' mixes has a standard deviation of about 2.7.
    ``friction_mix``: the mix of friction events. ``friction_mean``: the friction share around which accounts
    drift: its logit moves each month by ``friction_pull`` of its distance to that of ``friction_mean`` and by
    normal noise of ``friction_sd`` (an account signs up at a level drawn from the drift's stationary spread), so
    that recent events tell more about the current mix than old ones.
    """

    share: tuple[float, ...] = (0.30, 0.16, 0.14, 0.12, 0.08, 0.04, 0.11, 0.05)
    spread: float = 1.0
    utility: tuple[float, ...] = (0.0, 0.0, 0.0, 12.0, 12.0, 20.0, -16.0, -28.0)
    friction_mix: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.4)
    friction_mean: float = 0.08
    friction_pull: float = 0.3
    friction_sd: float = 0.5

    def __post_init__(self) -> None:
        for name in ("share", "utility", "friction_mix"):
            if len(getattr(self, name)) != len(EVENT_TYPES):
                raise ValueError(
                    f"TypeMix.{name} needs one value per event type ({len(EVENT_TYPES)}: {', '.join(EVENT_TYPES)}), "
                    f"got {len(getattr(self, name))}"
                )
        if min(self.share) <= 0 or abs(sum(self.share) - 1.0) > 1e-9:
            raise ValueError(f"TypeMix.share must be positive and sum to 1, got {self.share} (sum {sum(self.share)})")
        if min(self.friction_mix) < 0 or abs(sum(self.friction_mix) - 1.0) > 1e-9:
            raise ValueError(f"TypeMix.friction_mix must be >= 0 and sum to 1, got {self.friction_mix}")
        if not 0.0 < self.friction_mean < 1.0 or not 0.0 < self.friction_pull <= 1.0:
            raise ValueError(
                f"TypeMix needs 0 < friction_mean < 1 and 0 < friction_pull <= 1; got friction_mean="
                f"{self.friction_mean}, friction_pull={self.friction_pull}"
            )
        if self.spread < 0 or self.friction_sd < 0:
            raise ValueError(f"TypeMix needs spread >= 0 and friction_sd >= 0; got {self.spread}, {self.friction_sd}")

    def draw_own(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Each account's own mix, shape (n, types): logits around the mean mix's, with normal noise of ``spread``."""
        logits = np.log(np.asarray(self.share)) + self.spread * rng.normal(0.0, 1.0, (n, len(EVENT_TYPES)))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def draw_friction(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Each account's friction logit at sign-up, from the drift's stationary distribution."""
        stationary_sd = self.friction_sd / np.sqrt(1.0 - (1.0 - self.friction_pull) ** 2)
        return self.friction_level + stationary_sd * rng.normal(0.0, 1.0, n)

    @property
    def friction_level(self) -> float:
        """The logit of ``friction_mean``."""
        return float(np.log(self.friction_mean / (1.0 - self.friction_mean)))

    def drift(self, friction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Friction logits one month later."""
        noise = rng.normal(0.0, 1.0, len(friction))
        return friction + self.friction_pull * (self.friction_level - friction) + self.friction_sd * noise

    def utility_of(self, shares: np.ndarray) -> np.ndarray:
        """Per row of ``shares`` (n, types): its utility less that of the mean mix (``mean_mix``), in churn logits."""
        u = np.asarray(self.utility)
        return shares @ u - float(self.mean_mix @ u)

    @property
    def mean_mix(self) -> np.ndarray:
        """The mix of an account with the mean own mix at the mean friction share."""
        return (1.0 - self.friction_mean) * np.asarray(self.share) + self.friction_mean * np.asarray(self.friction_mix)

    @property
    def friction_utility(self) -> float:
        """The utility of the friction mix (``utility_of``)."""
        return float(self.utility_of(np.asarray(self.friction_mix)[None, :])[0])

    def draw_types(self, u: np.ndarray, own: np.ndarray, friction: np.ndarray, row: np.ndarray) -> np.ndarray:
        """The type (index into ``EVENT_TYPES``) of each event, from a uniform ``u`` per event: the event's account
        is row ``row`` of ``own`` (the accounts' own mixes) and ``friction`` is its friction share that month.

        One uniform decides both steps: below ``friction``, the event is a friction event and ``u / friction`` picks
        its type; above, ``(u - friction) / (1 - friction)`` picks it from the account's own mix. Each is looked up
        in cumulative shares, the accounts' laid end to end (account r's in (r, r + 1]), without a row per event.
        """
        k = len(EVENT_TYPES)
        is_friction = u < friction
        v = np.where(is_friction, u / np.maximum(friction, 1e-300), (u - friction) / (1.0 - friction))
        bounds = (np.arange(len(own))[:, None] + np.cumsum(own, axis=1)).ravel()
        from_own = np.searchsorted(bounds, row + v, side="right") - row * k
        from_friction = np.searchsorted(np.cumsum(self.friction_mix), v, side="right")
        return np.minimum(np.where(is_friction, from_friction, from_own), k - 1)  # k: a rounding past the last bound

    def mix_of(self, own: np.ndarray, friction: np.ndarray) -> np.ndarray:
        """The month's mix (rows sum to 1) of accounts with mixes ``own`` (n, types) at friction shares (n,)."""
        b = friction[:, None]
        return (1.0 - b) * own + b * np.asarray(self.friction_mix)
