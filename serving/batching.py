"""Live scoring in batches: requests that arrive while a batch is being scored wait, and are then scored together.

Scoring one row costs mostly fixed work (building the arrays, a LightGBM prediction call, a TreeSHAP call per model,
the health and reasons), so sixteen rows scored at once cost little more than one. Under load the requests of one
process queue behind the batch being scored, and each next batch takes all of them (up to ``max_rows`` rows): no
timer, so a lone request is scored at once and waits for nothing. One batch at a time per process, on a worker
thread (LightGBM and TreeSHAP release the GIL), leaves the event loop free to read and answer requests; with one
process per core (``churn serve --workers``) every core scores.

Rows of a batch are independent: each row's probabilities and explanations are those of the row scored alone, up to
the last bits of a sum (TreeSHAP adds in another order for another batch size).

Written here rather than taken from a library: the serving libraries that batch (Ray Serve, BentoML, Triton) are
servers of their own; this is one queue and one loop over it.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram

from models.scoring import Scorer

Rows = Sequence[Mapping[str, object]]
Shape = Callable[[list[dict[str, Any]]], bytes]  # one request's scores -> its response body


@dataclass
class Waiting:
    scorer: Scorer
    rows: Rows
    shape: Shape
    done: asyncio.Future[bytes] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    """Scores the rows of concurrent requests together, one batch at a time (see the module's docstring)."""

    def __init__(self, max_rows: int, threads: int | None, sizes: Histogram) -> None:
        self.max_rows, self.threads, self.sizes = max_rows, threads, sizes  # sizes: requests per batch
        self.waiting: list[Waiting] = []
        self.busy = False

    async def score(self, scorer: Scorer, rows: Rows, shape: Shape) -> bytes:
        """The response body of one request: ``shape`` of its rows' scores (``Scorer.score_dicts``)."""
        w = Waiting(scorer, rows, shape)
        self.waiting.append(w)
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self._drain())
        return await w.done

    def _take(self) -> list[Waiting]:
        """The next batch: waiting requests in order, scored by the same models (a reload may swap them between
        requests), up to ``max_rows`` rows; a request larger than that alone."""
        first = self.waiting[0]
        batch: list[Waiting] = []
        n = 0
        for w in self.waiting:
            if w.scorer is not first.scorer or (batch and n + len(w.rows) > self.max_rows):
                break
            batch.append(w)
            n += len(w.rows)
        del self.waiting[: len(batch)]
        return batch

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch = self._take()
                try:
                    bodies = await asyncio.to_thread(self._run, batch)
                except Exception as e:  # every request of the batch answers the error (500 in the Problem shape)
                    for w in batch:
                        if not w.done.done():
                            w.done.set_exception(e)
                    continue
                for w, b in zip(batch, bodies, strict=True):
                    if not w.done.done():  # a client that went away cancelled its future
                        w.done.set_result(b)
        finally:
            self.busy = False

    def _run(self, batch: list[Waiting]) -> list[bytes]:
        rows = [r for w in batch for r in w.rows]
        scores = batch[0].scorer.score_dicts(rows, threads=self.threads)
        bodies, start = [], 0
        for w in batch:
            bodies.append(w.shape(scores[start : start + len(w.rows)]))
            start += len(w.rows)
        self.sizes.observe(len(batch))
        return bodies
