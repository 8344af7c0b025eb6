"""Bank-holiday calendars from the ``holidays`` library, kept in a per-user cache.

Importing the ``holidays`` library costs about half a second at every start of every command and
console: the package reads its own metadata, and a country's module can only be reached through
``holidays.countries``, which imports all 250 of them.  A country's closed days never change for
a given release of the library, so the first start computes them once — every year the library
knows for that country, ``start_year`` to ``end_year`` (1872 to 2100 for GB) — and writes them
to ``<cache root>/holidays/<library release>/<COUNTRY>[-<SUBDIV>].json`` (``store.cache_root``:
``~/.cache/mentiondesk`` on Linux).  Later starts read that file (a millisecond) and import
nothing.

Only a country and region the library accepted are ever written, under the release that
accepted them, so a file found is a calendar the library would build; a misspelt country or
region finds no file, so the library is asked and the rules file reports it with its line (see
``rules._Loader._calendar``).  A new library release is a new folder.  A cache that cannot be
read or written (no home directory, a read-only disk, a damaged file) only costs the library
import: the calendar is built from the library as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

FORMAT = 1  # the layout of a cache file; a file of another layout is rebuilt


class CachedHolidays:
    """A country's (and region's) bank holidays as the ``holidays`` library gives them, read
    from the cache: supports ``day in calendar`` (local dates) and ``end_year`` like the
    library's calendar.  Days outside ``start_year``..``end_year`` (which the library's own
    calendar would compute on demand) are asked of the library itself, imported then."""

    def __init__(self, country: str, subdiv: str | None, days: Iterable[date],
                 start_year: int, end_year: int) -> None:
        self.country = country
        self.subdiv = subdiv
        self.days = frozenset(days)
        self.start_year = start_year
        self.end_year = end_year
        self._library: Any = None

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if self.start_year <= day.year <= self.end_year:
            return day in self.days
        if self._library is None:
            self._library = library_calendar(self.country, self.subdiv)
        return day in self._library

    def __repr__(self) -> str:
        where = f"{self.country}-{self.subdiv}" if self.subdiv else self.country
        return (f"CachedHolidays({where}, {self.start_year}-{self.end_year}, "
                f"{len(self.days)} days)")


def library_calendar(country: str, subdiv: str | None) -> Any:
    """The ``holidays`` library's own calendar (imports the library: about half a second)."""
    import holidays

    return holidays.country_holidays(country, subdiv=subdiv)


def library_release() -> str | None:
    """The installed ``holidays`` release (its ``.dist-info`` folder's version), found without
    importing the library or ``importlib.metadata``; None when it cannot be told apart."""
    from importlib.util import find_spec

    try:
        spec = find_spec("holidays")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    try:
        found = [e.name for e in os.scandir(package.parent)
                 if e.name.startswith("holidays-") and e.name.endswith(".dist-info")]
    except OSError:
        return None
    if len(found) != 1:
        return None  # none, or several installs side by side: do not guess which one is used
    return found[0][len("holidays-"):-len(".dist-info")]


def cache_dir() -> Path | None:
    """``cache_root()/holidays/<release>`` (None: no release could be told)."""
    release = library_release()
    if release is None:
        return None
    from .store import cache_root

    return cache_root() / "holidays" / release


def _file(folder: Path, country: str, subdiv: str | None) -> Path:
    return folder / (f"{country}-{subdiv}.json" if subdiv else f"{country}.json")


def cached(country: str, subdiv: str | None) -> CachedHolidays | None:
    """The cached calendar of ``country`` (an upper-case ISO code) and ``subdiv`` (upper case
    or None), or None when none is cached for the installed release (never raises)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = json.loads(_file(folder, country, subdiv).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("country") != country \
                or data.get("subdiv") != subdiv:
            return None
        return CachedHolidays(country, subdiv, map(date.fromisoformat, data["days"]),
                              int(data["start_year"]), int(data["end_year"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remember(country: str, subdiv: str | None, calendar: Any) -> CachedHolidays | None:
    """Compute every closed day of the library's ``calendar`` (built for ``country`` and
    ``subdiv``, which the library accepted) from its ``start_year`` to its ``end_year`` and
    write them to the cache; returns them as a :class:`CachedHolidays`, or None when the
    calendar does not say its years.  A cache that cannot be written is skipped silently."""
    start, end = getattr(calendar, "start_year", None), getattr(calendar, "end_year", None)
    if not isinstance(start, int) or not isinstance(end, int) or start > end:
        return None
    for year in range(start, end + 1):
        _ = date(year, 1, 1) in calendar  # the library computes a year when first asked
    days = sorted(d for d in calendar.keys() if start <= d.year <= end)
    result = CachedHolidays(country, subdiv, days, start, end)
    folder = cache_dir()
    if folder is None:
        return result
    body = json.dumps({"format": FORMAT, "country": country, "subdiv": subdiv,
                       "start_year": start, "end_year": end,
                       "days": [d.isoformat() for d in days]})
    try:
        # The cache root private (0700), whatever the umask: the desk's state image beside
        # these files is only trusted in a root nobody else can write (tui.core.image).
        from .store import cache_root

        cache_root().mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".holidays-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(tmp, _file(folder, country, subdiv))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass
    return result
