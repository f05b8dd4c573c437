"""Loading models and scores into the holder: at start-up, on ``POST /v1/admin/reload``, and from the watch, which
every ``reload_interval`` asks the store which scores version is current (a few bytes) and the registry where the
alias points, and loads only what changed: a new scores version does not reload the models, nor the reverse.

Loads run on worker threads, never on the event loop; whatever fails leaves the previous models or scores serving,
and the reason shows in ``/readyz`` until a later load succeeds.
"""

import asyncio
import logging
import threading
import time
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from models.published import DOCUMENTS, shown
from models.registered import TARGETS, alias_version
from serving.settings import ServingSettings
from serving.state import Holder, load_models, load_scores
from serving.store import open_store

logger = logging.getLogger("churn.serving")


class Meters(Protocol):
    version: Gauge  # model -> loaded version
    reloads: Counter  # model loads by outcome
    score_loads: Counter  # scores version loads by outcome
    monitoring_alerts: Gauge  # level -> alerts of the last churn monitor run
    monitoring_roc_auc: Gauge  # estimated or realised -> ROC AUC at the latest date measured


class Reloader:
    def __init__(self, settings: ServingSettings, holder: Holder, metrics: Meters) -> None:
        self.settings, self.holder, self.metrics = settings, holder, metrics
        self.store = open_store(settings.scores)
        # One load of each part at a time (an explicit reload and the watch may overlap); the swaps themselves
        # are short and take the holder's lock.
        self.loading = {"models": threading.Lock(), "scores": threading.Lock()}

    def models(self) -> bool:
        """Load both models at the alias; swap them in only if they load and pass a smoke prediction."""
        with self.loading["models"]:
            try:
                models, scorer = load_models(self.settings.tracking_uri, self.settings.alias)
            except Exception as e:  # any failure must leave the old models serving
                self.holder.errors["models"] = f"{type(e).__name__}: {e}"
                self.metrics.reloads.labels("refused").inc()
                logger.error("model reload refused, the previous models keep serving: %s", self.holder.errors["models"])
                return False
            fresh = self.holder.swap_models(models, scorer)
            for t, v in fresh.versions.items():
                self.metrics.version.labels(t).set(float(v))
            self.metrics.reloads.labels("ok").inc()
            logger.info("serving models %s", fresh.versions)
            return True

    def scores(self) -> bool:
        """Load the store's current scores version if it is not the one served (versions never change)."""
        with self.loading["scores"]:
            t0 = time.perf_counter()
            try:
                if self.store.current() == self.holder.scores.version and "scores" not in self.holder.errors:
                    return True
                fresh = load_scores(self.store)
            except Exception as e:  # any failure must leave the old scores serving
                self.holder.errors["scores"] = f"{type(e).__name__}: {e}"
                self.metrics.score_loads.labels("refused").inc()
                logger.error("scores not loaded from %s, the previous ones keep serving: %s", shown(str(self.store)),
                             self.holder.errors["scores"])  # fmt: skip
                return False
            self.holder.swap_scores(fresh)
            self.metrics.score_loads.labels("ok").inc()
            logger.info("serving scores version %s (%d accounts, as of %s), loaded in %.2f s", fresh.version,
                        len(fresh.payloads), fresh.as_of, time.perf_counter() - t0)  # fmt: skip
            return True

    def documents(self) -> None:
        """Read the latest monitoring, forecast and effects documents (small: read whole every interval), each on its
        own. A store that cannot be read, or a broken document, leaves the previous one of its kind shown and says
        why in the log (none makes the server unready)."""
        read: dict[str, dict[str, Any] | None] = {}
        for kind in DOCUMENTS:
            try:
                read[kind] = self.store.document(kind)
            except Exception as e:  # any failure must leave the previous document shown
                logger.error("%s not read from %s, the previous one is shown: %s", kind, shown(str(self.store)), e)
        if "forecast" in read:
            self.holder.forecast = read["forecast"]
        if "effects" in read:
            self.holder.effects = read["effects"]
        if "monitoring" not in read:
            return
        doc = self.holder.monitoring = read["monitoring"]
        if doc is None:
            return
        for level, n in doc.get("counts", {}).items():
            self.metrics.monitoring_alerts.labels(level).set(n)
        for kind, key in (("estimated", "estimate"), ("realised", "value")):
            points = doc.get("performance", {}).get(kind) or []
            if points and points[-1].get(key) is not None:
                self.metrics.monitoring_roc_auc.labels(kind).set(float(points[-1][key]))

    def reload(self) -> bool:
        """Models and scores, both tried (and the published documents); True when both are loaded."""
        ok_models = self.models()
        self.documents()
        return self.scores() and ok_models

    def alias_moved(self) -> bool:
        b = self.holder.bundle
        now = {t: alias_version(t, self.settings.alias, self.settings.tracking_uri) for t in TARGETS}
        return b is None or any(v is not None and v != b.versions.get(t) for t, v in now.items())

    async def watch(self) -> None:
        """Every reload interval: a new scores version loads by itself, and the models when the alias moved."""
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            await asyncio.to_thread(self.scores)
            await asyncio.to_thread(self.documents)
            try:
                moved = await asyncio.to_thread(self.alias_moved)
            except Exception as e:  # the registry may be down for a while: keep watching
                logger.error("could not read the registry alias %s: %s", self.settings.alias, e)
                continue
            if moved:
                await asyncio.to_thread(self.models)
