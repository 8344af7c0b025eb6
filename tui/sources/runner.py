"""The runner: sources → the desk, and the desk's outbox → the sources.

Each source runs as its own task; one that crashes is logged, shown as failed and restarted after
a backoff, and never stops the others or the console.  Emitted mentions are batched (every
``batch_seconds`` or ``batch_size`` mentions) into ``desk.ingest``, which persists and flushes
before returning.  Due outbox items are delivered by the source named in ``item["source"]``:
``outbox.start`` (flushed) right before the network call, then ``sent``, ``retry`` (network
errors and 5xx, exponential backoff with jitter) or ``fail`` (any other refusal: the agent sees
the server's message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from ..core.model import Mention, utcnow
from ..core.outbox import Outbox
from ..core.store import StoreError
from ..core.text import clean_name
from .base import FAILED, STOPPED, DeliveryError, Source
from .http import backoff_delay, describe_error, redact

log = logging.getLogger("mentiondesk.runner")
CHECKPOINT_POLL = 0.1  # seconds between looks at a background checkpoint


class RunnerDesk(Protocol):
    """What the runner needs of a desk: ``tui.core.desk.Desk`` (tests pass a small fake)."""

    @property
    def outbox(self) -> Outbox: ...

    def ingest(self, mentions: list[Mention]) -> list[Any]:
        """File a batch; the results go to ``on_ingested`` as they are."""
        ...

    def maintain(self, now: datetime | None = None) -> int | None:
        """Checkpoint when it is time; the number of conversations archived, or None."""
        ...


class Runner:
    def __init__(
        self,
        desk: RunnerDesk,
        sources: Iterable[Source],
        *,
        on_ingested: Callable[[list[Any]], None] | None = None,
        batch_seconds: float = 0.1,
        batch_size: int = 200,
        deliver: bool = True,
        deliver_seconds: float = 0.5,
        maintain_seconds: float = 60.0,
        retry_base: float = 5.0,
        retry_cap: float = 900.0,
        max_attempts: int = 12,
        restart_base: float = 1.0,
        restart_cap: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.desk = desk
        self.sources: dict[str, Source] = {}
        for source in sources:
            if source.name in self.sources:
                raise ValueError(f"source {source.name} is given twice")
            self.sources[source.name] = source
        self.on_ingested = on_ingested
        self.batch_seconds = batch_seconds
        self.batch_size = batch_size
        self.deliver_enabled = deliver
        self.deliver_seconds = deliver_seconds
        self.maintain_seconds = maintain_seconds
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.restart_base = restart_base
        self.restart_cap = restart_cap
        self.clock = clock
        self._pending: list[Mention] = []
        self._wake = asyncio.Event()
        self._in_flight: set[str] = set()
        self._busy: dict[str, asyncio.Task] = {}
        self.ingested = 0
        self.dropped = 0  # mentions the desk refused (logged one by one)
        self._unknown_logged: set[str] = set()
        self.final: dict[str, tuple[str, str]] = {}  # each source's state and detail at the end
        self.on_saving: Callable[[str | None], None] | None = None  # NOT SAVING line, or None
        self._fault: str | None = None
        self._positions: dict[str, dict] = {}  # positions waiting for their mentions' ingest
        self._resume_sources()

    def _resume_sources(self) -> None:
        """Give each source its stored position, a way to store the next one, and the desk's
        "already have it" test, so a restart reads exactly what arrived while it was closed."""
        stored = getattr(self.desk, "source_position", None)
        knows = getattr(self.desk, "knows", None)
        for name, source in self.sources.items():
            position = stored(name) if stored is not None else None

            def keep(doc: dict, name: str = name) -> None:
                self._positions[name] = doc
                self._wake.set()

            source.resume(position, on_position=keep, known=knows)

    # --- mentions in ----------------------------------------------------------------------------

    def emit(self, batch: list[Mention]) -> None:
        """The callback every source gets: cheap, never blocks, never raises."""
        self._pending.extend(batch)
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    def _store_positions(self) -> None:
        set_limit = getattr(self.desk, "set_post_limit", None)
        if set_limit is not None:
            for name, source in self.sources.items():
                limit = getattr(source, "post_limit", None)
                if limit and getattr(self.desk, "post_limits", {}).get(name) is None:
                    set_limit(name, *limit)
        save = getattr(self.desk, "save_source_position", None)
        positions, self._positions = self._positions, {}
        if save is None:
            return
        for name, doc in positions.items():
            try:
                save(name, doc)
            except Exception:
                log.exception("could not store the position of %s", clean_name(name, 200))

    def flush(self) -> list[Any]:
        """Hand what the sources emitted to the desk now; returns what the desk filed *and
        saved* (while the disk is full the desk holds mentions in memory and they come back
        here, saved, once a write succeeds: only then are they passed to ``on_ingested``).
        Then store the positions the sources reached (after their mentions: a crash in
        between re-reads, never skips)."""
        if not self._pending:
            if getattr(self.desk, "unsaved", None) or getattr(self.desk, "not_saving", None):
                return self._saved(list(self.desk.ingest([])))  # retry the held writes
            self._saving_changed()
            self._store_positions()
            return []
        batch, self._pending = self._pending, []
        try:
            results = list(self.desk.ingest(batch))
        except Exception:
            # One bad mention must not cost the batch: file them one by one, drop the culprit.
            log.exception("ingest failed for a batch of %d; retrying one by one", len(batch))
            results = []
            for m in batch:
                try:
                    results.extend(self.desk.ingest([m]))
                except Exception as exc:
                    self.dropped += 1
                    log.error("dropped mention %s: %s", clean_name(m.key, 200),
                              clean_name(repr(exc), 300))
        return self._saved(results)

    def _saved(self, results: list[Any]) -> list[Any]:
        results = [r for r in results if getattr(r, "saved", True)]
        self._saving_changed()
        self.ingested += len(results)
        self._store_positions()
        if results and self.on_ingested is not None:
            try:
                self.on_ingested(results)
            except Exception:
                log.exception("on_ingested callback failed")
        return results

    def _saving_changed(self) -> None:
        """Tell ``on_saving`` once when the desk stops saving and once when it saves again."""
        state = getattr(self.desk, "not_saving", None)
        # The kind of fault ("NOT SAVING — disk full"), not its free-space figure, which moves.
        fault = state.partition(" (")[0].partition(";")[0] if state else None
        if fault == self._fault:
            return
        self._fault = fault
        # Logged for console.log; shown to people by ``on_saving`` (status bar, ingest's stderr).
        level = logging.INFO if self.on_saving is not None else logging.ERROR
        log.log(level, "%s", state or "saving again: everything held in memory is written")
        if self.on_saving is not None:
            try:
                self.on_saving(state)
            except Exception:
                log.exception("on_saving callback failed")

    async def _batcher(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the event is set, and the batcher then never stopped (the runner
            # hung at shutdown, now and then).
            try:
                async with asyncio.timeout(self.batch_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            self.flush()

    async def _supervise(self, source: Source) -> None:
        """Run a source; if it crashes (it should not), show it and restart it after a backoff."""
        attempts = 0
        while True:
            try:
                await source.run(self.emit)
                return  # finished by itself (a replay at its end, a refused token)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts += 1
                delay = backoff_delay(attempts, self.restart_base, self.restart_cap)
                source.status.set(FAILED, clean_name(
                    f"crashed: {describe_error(exc)}; restarting in {delay:.0f} s", 300))
                log.exception("source %s crashed", source.name)
                await asyncio.sleep(delay)

    # --- replies out ----------------------------------------------------------------------------

    def _due_by_source(self) -> dict[str, list[dict]]:
        groups: dict[str, list[dict]] = {}
        for item in self.desk.outbox.due(self.clock()):
            if item["id"] in self._in_flight:
                continue
            name = str(item.get("source"))
            if name not in self.sources:
                # Not connected in this process (e.g. the console runs the demo only): the item
                # waits, untouched, for a run that has its source.
                if name not in self._unknown_logged:
                    self._unknown_logged.add(name)
                    log.warning("outbox items for %s wait: that source is not running",
                                clean_name(name, 200))
                continue
            groups.setdefault(name, []).append(item)
        return groups

    async def deliver_due(self) -> None:
        """Start delivering every due item (one sequence per source); wait for all of them."""
        for _ in range(4):  # a sent DM lets its public bridge go: a few rounds, not forever
            self._start_deliveries()
            busy = [t for t in self._busy.values() if not t.done()]
            if not busy:
                return
            await asyncio.gather(*busy, return_exceptions=True)

    def _start_deliveries(self) -> None:
        """One sequence per conversation (its posts keep their order), conversations in
        parallel: a delivery stuck on a slow server never holds back another customer's."""
        self._busy = {k: t for k, t in self._busy.items() if not t.done()}
        for name, items in self._due_by_source().items():
            by_conv: dict[str, list[dict]] = {}
            for item in items:
                by_conv.setdefault(str(item.get("conv_id")), []).append(item)
            for conv_id, group in by_conv.items():
                key = f"{name}|{conv_id}"
                if key in self._busy:
                    continue  # still sending that conversation's earlier posts
                for item in group:
                    self._in_flight.add(item["id"])
                self._busy[key] = asyncio.create_task(
                    self._deliver_all(self.sources[name], group))

    async def _deliver_all(self, source: Source, items: list[dict]) -> None:
        for item in items:
            try:
                await self._deliver_one(source, item)
            except StoreError as exc:  # the outcome is in memory; saved once writes succeed
                log.warning("outbox item %s: %s", item["id"], exc)
            finally:
                self._in_flight.discard(item["id"])

    async def _deliver_one(self, source: Source, item: dict) -> None:
        outbox = self.desk.outbox
        try:
            started = outbox.start(item["id"])
        except (KeyError, ValueError) as exc:  # cancelled by an undo in the meantime
            log.info("outbox item %s not sent: %s", item["id"], exc)
            return
        except StoreError as exc:  # 'sending' could not be saved: never send unsaved
            log.warning("outbox item %s waits: %s", item["id"], exc)
            return
        try:
            remote = await source.deliver(started)
        except asyncio.CancelledError:
            raise  # stays 'sending': the next start re-sends it with the same idempotency key
        except DeliveryError as exc:
            message = clean_name(redact(str(exc)), 300)
            attempts = int(started.get("attempts") or 1)
            if exc.wait_until is not None:
                # A rate limit is not a failure: the attempt is given back, and the item
                # waits for the reset time (shown in the outbox).
                outbox.wait_for_rate_limit(item["id"], exc.wait_until)
                log.info("delivery of %s via %s: %s", item["id"], source.name, message)
                return
            if not exc.retry:
                outbox.fail(item["id"], message)
            elif attempts >= self.max_attempts:
                outbox.fail(item["id"], f"gave up after {attempts} attempts: {message}")
            else:
                delay = exc.retry_after
                if delay is None or delay <= 0:
                    delay = backoff_delay(attempts, self.retry_base, self.retry_cap)
                outbox.retry(item["id"], message, delay)
            log.warning("delivery of %s via %s: %s", item["id"], source.name, message)
            return
        except Exception as exc:  # a bug in a source: retry later rather than lose the post
            attempts = int(started.get("attempts") or 1)
            log.exception("delivery of %s via %s crashed", item["id"], source.name)
            outbox.retry(item["id"], clean_name(describe_error(exc), 300),
                         backoff_delay(attempts, self.retry_base, self.retry_cap))
            return
        try:
            outbox.sent(item["id"], remote)
        except StoreError as exc:  # in memory as sent; a crash re-sends with the same key
            log.warning("outbox item %s sent, not yet saved: %s", item["id"], exc)

    async def _maintainer(self) -> None:
        """Let the desk checkpoint and archive now and then (it decides when).  A desk that
        checkpoints in the background (``maintain_in_background``) is polled every
        ``CHECKPOINT_POLL`` seconds until its checkpoint is done."""
        step = getattr(self.desk, "maintain_in_background", None) or self.desk.maintain
        while True:
            await asyncio.sleep(self.maintain_seconds)
            try:
                archived = step()
                while getattr(self.desk, "checkpoint_running", False):
                    # Loop work waiting: the next slice after one turn of the loop.
                    busy = getattr(self.desk, "checkpoint_busy", False)
                    await asyncio.sleep(0 if busy else CHECKPOINT_POLL)
                    archived = step()
                if archived:
                    log.info("checkpoint: %d handled conversations archived", archived)
            except StoreError as exc:  # the journal still holds everything; retried later
                log.warning("checkpoint not written, retried in %.0f s: %s",
                            self.maintain_seconds, exc)
            except Exception:
                log.exception("desk maintenance")

    async def _deliverer(self) -> None:
        while True:
            try:
                self._start_deliveries()
            except Exception:
                log.exception("delivery loop")
            await asyncio.sleep(self.deliver_seconds)

    # --- the whole run --------------------------------------------------------------------------

    async def run(self, until: asyncio.Event | None = None, duration: float | None = None,
                  once: bool = False) -> None:
        """Run until ``until`` is set, ``duration`` seconds passed, or (with neither) every source
        finished.  ``once``: one REST pass / poll per source, ingest, deliver what is due, stop."""
        try:
            if once:
                # Ctrl-C / SIGTERM (``until``) ends a long pass too; what was read is kept.
                # The batcher runs too: a live stream read "once" until it goes silent prints
                # (and saves) what arrives as it arrives, not all of it when the pass ends.
                task = asyncio.create_task(self._once())
                batcher = asyncio.create_task(self._batcher())
                stop = asyncio.ensure_future(until.wait()) if until is not None else None
                try:
                    await asyncio.wait([t for t in (task, stop) if t is not None],
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    batcher.cancel()
                    await asyncio.gather(batcher, return_exceptions=True)
                    if stop is not None:
                        stop.cancel()
                    if not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                        self.flush()
                    else:
                        task.result()
                return
            tasks = [asyncio.create_task(self._supervise(s), name=f"source {s.name}")
                     for s in self.sources.values()]
            helpers = [asyncio.create_task(self._batcher()),
                       asyncio.create_task(self._maintainer())]
            if self.deliver_enabled:
                helpers.append(asyncio.create_task(self._deliverer()))
            try:
                await self._wait(tasks, until, duration)
            finally:
                for task in tasks + helpers:
                    task.cancel()
                await asyncio.gather(*tasks, *helpers, return_exceptions=True)
                self.flush()
                await self._finish_deliveries()
        finally:
            for source in self.sources.values():
                self.final[source.name] = (source.status.state, source.status.detail)
                if source.status.state not in (FAILED,):
                    source.status.set(STOPPED, "stopped")
                try:
                    await source.aclose()
                except Exception:
                    log.exception("closing %s", source.name)

    async def _once(self) -> None:
        async def one(source: Source) -> None:
            poll = getattr(source, "poll", None)
            try:
                await (poll(self.emit) if poll is not None else source.run(self.emit))
            except Exception as exc:
                source.status.set(FAILED, clean_name(describe_error(exc), 300))
                log.exception("source %s failed", source.name)

        await asyncio.gather(*(one(s) for s in self.sources.values()))
        self.flush()
        if self.deliver_enabled:
            await self.deliver_due()

    async def _wait(self, tasks: list[asyncio.Task], until: asyncio.Event | None,
                    duration: float | None) -> None:
        waiters: list[asyncio.Future] = []
        if until is not None:
            waiters.append(asyncio.ensure_future(until.wait()))
        if duration is not None:
            waiters.append(asyncio.ensure_future(asyncio.sleep(duration)))
        if not waiters:
            waiters.append(asyncio.ensure_future(asyncio.gather(*tasks,
                                                                return_exceptions=True)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _finish_deliveries(self, grace: float = 5.0) -> None:
        busy = [t for t in self._busy.values() if not t.done()]
        if not busy:
            return
        _, pending = await asyncio.wait(busy, timeout=grace)
        for task in pending:  # left 'sending': re-sent with the same key on the next start
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
