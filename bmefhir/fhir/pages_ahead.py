"""Following searches' ``next`` links on a worker thread, one page ahead of the code that reads them.

A patient's large searches come back in pages (HAPI sandbox: 500 per page, so 8 for the
Observations of a 5,000-resource record). Read in turn, the server waits while the adapter
decodes, screens and sorts each page, and the adapter waits while the server computes the next.
``PagesAhead`` overlaps the two: one worker thread walks the searches' pages in order, one search
after another (``FhirClient.continue_search``: same requests, same order, one at a time, so the
server sees exactly what the sequential read sent), and hands each decoded page over as soon as
it has asked for the next one.

Memory stays bounded: the hand-over holds at most one page, so besides the page being read at
most two are decoded and waiting (one handed over, one in the worker's hands), whatever the number
of pages; a server whose ``next`` links never end is stopped by the client's ``max_pages``, and an
oversized page by its ``max_response_bytes``, as before. A search whose paging fails ends with its
``FhirError`` in place of its next page (the caller reports it for that search; the pages before
it are kept); the other searches are still read. Anything else the worker raises is raised in the
caller. Leaving the ``with`` block (normally or by an exception) stops the worker after its
current request and waits for it, so the client is never used by two threads after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from bmefhir.fhir.client import FhirClient
from bmefhir.fhir.errors import FhirError

__all__ = ["Chain", "PagesAhead"]

# Decoded pages waiting in the hand-over (besides the one the worker holds and the one being read).
_WAITING: Final = 1


@dataclass(frozen=True, slots=True)
class Chain:
    """A search whose first page is read already: ``key`` names it to the caller, ``first_url`` is
    the search as sent (``next`` links resolve against the client's base), ``page`` its first page."""

    key: int
    first_url: str
    page: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Item:
    key: int
    page: dict[str, Any] | None = None  # None with ``error`` or at the end of the search
    error: BaseException | None = None


class PagesAhead:
    """``with PagesAhead(client, chains) as pages: for key, page, error in pages: ...``: every page
    after the first of each chain, in chain order; ``error`` is the ``FhirError`` that ended a
    chain's paging (its ``page`` is None then)."""

    def __init__(self, client: FhirClient, chains: Sequence[Chain]) -> None:
        self._client = client
        self._chains = list(chains)
        self._handover: queue.Queue[_Item | None] = queue.Queue(maxsize=_WAITING)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._walk, name="bmefhir-pages-ahead", daemon=True)

    def __enter__(self) -> Self:
        if self._chains:
            self._worker.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker after its current request and wait for it (pages not read are dropped)."""
        if not self._worker.is_alive():
            return
        self._stop.set()
        # The worker puts at most one more item once it sees the stop; emptying the hand-over makes
        # room for it, so the join below cannot wait on a full hand-over.
        while True:
            try:
                self._handover.get_nowait()
            except queue.Empty:
                break
        self._worker.join()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | None, FhirError | None]]:
        if not self._chains:
            return
        while (item := self._handover.get()) is not None:
            if isinstance(item.error, FhirError):
                yield item.key, None, item.error
            elif item.error is not None:
                raise item.error
            else:
                yield item.key, item.page, None

    def _walk(self) -> None:
        try:
            for chain in self._chains:
                try:
                    for page in self._client.continue_search(chain.first_url, chain.page):
                        if not self._hand_over(_Item(chain.key, page)):
                            return
                except FhirError as exc:
                    if not self._hand_over(_Item(chain.key, error=exc)):
                        return
                if self._stop.is_set():
                    return
        except BaseException as exc:
            self._hand_over(_Item(-1, error=exc))
            return
        self._hand_over(None)

    def _hand_over(self, item: _Item | None) -> bool:
        """Put ``item`` in the hand-over; False when the reader has stopped the walk."""
        if self._stop.is_set():
            return False
        self._handover.put(item)
        return not self._stop.is_set()
