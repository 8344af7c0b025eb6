"""The bank-holiday calendar comes from a per-user cache after the first start, without
importing the ``holidays`` library, and is the library's calendar day for day
(tui.core.bank_holidays; issue 9, a console's first screen)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest
from conftest import ROOT

from tui.core import bank_holidays
from tui.core.rules import RulesError, load_rules

SHIPPED = (ROOT / "rules.yaml").read_text()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MENTIONDESK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def rules_with(tmp_path: Path, holidays_line: str) -> Path:
    path = tmp_path / "rules.yaml"
    text = SHIPPED.replace("  holidays: {country: GB, subdiv: ENG, extra: []}", holidays_line)
    assert text != SHIPPED
    path.write_text(text)
    return path


def test_the_cached_calendar_is_the_librarys_day_for_day(cache: Path, tmp_path: Path) -> None:
    path = rules_with(tmp_path, "  holidays: {country: DE, subdiv: BY, extra: [2031-06-13]}")
    first = load_rules(path).office_hours
    [written] = cache.glob("holidays/*/DE-BY.json")
    again = load_rules(path).office_hours
    assert isinstance(again.calendar, bank_holidays.CachedHolidays)
    library = holidays.country_holidays("DE", subdiv="BY")
    day = date(again.calendar.start_year - 3, 1, 1)
    while day.year <= again.calendar.end_year + 3:  # and a few years the cache does not hold
        assert (day in again.calendar) == (day in library) == (day in first.calendar), day
        day += timedelta(days=1)
    assert again.calendar_ends() == date(library.end_year, 12, 31)
    assert again.is_holiday(date(2031, 6, 13))  # the extra date
    assert again.is_holiday(date(2031, 1, 6))  # Epiphany in Bavaria
    assert json.loads(written.read_text())["country"] == "DE"


def test_a_later_start_does_not_import_the_library(cache: Path) -> None:
    code = ("import sys\nfrom tui.core.rules import load_rules\n"
            f"office = load_rules({str(ROOT / 'rules.yaml')!r}).office_hours\n"
            "from datetime import date\n"
            "print('holidays' in sys.modules, office.is_holiday(date(2031, 12, 25)))\n")
    env = {**os.environ, "MENTIONDESK_CACHE_DIR": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=60) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["True", "True"], ["False", "True"]], \
        [r.stderr for r in runs]


def test_a_bad_region_is_still_reported_with_its_line(cache: Path, tmp_path: Path) -> None:
    load_rules(ROOT / "rules.yaml")  # GB-ENG is cached now
    text = "  holidays: {country: GB, subdiv: ENX}"
    path = rules_with(tmp_path, text)
    line = path.read_text().splitlines().index(text) + 1
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert any(p.line == line and "subdiv 'ENX' is not a region of GB" in str(p)
               for p in caught.value.problems), [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("damage", ["{not json", '{"format": 1, "country": "GB"}', ""])
def test_a_damaged_cache_file_is_rebuilt(cache: Path, damage: str) -> None:
    load_rules(ROOT / "rules.yaml")
    [written] = cache.glob("holidays/*/GB-ENG.json")
    written.write_text(damage)
    office = load_rules(ROOT / "rules.yaml").office_hours
    assert office.is_holiday(date(2040, 4, 2))  # Easter Monday, from the library
    assert json.loads(written.read_text())["subdiv"] == "ENG"


def test_an_unwritable_cache_only_costs_the_library(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    # Under a file: no folder can be made there.
    monkeypatch.setenv("MENTIONDESK_CACHE_DIR", str(blocker / "sub"))
    office = load_rules(ROOT / "rules.yaml").office_hours
    assert office.is_holiday(date(2031, 12, 25)) and not office.is_holiday(date(2031, 1, 2))


def test_the_cache_root_is_private_whatever_the_umask(cache: Path) -> None:
    """A group-writable cache root (umask 002) would make the desk's state image, kept in the
    same root, never trusted again (tui.core.image): the holidays cache creates it 0700."""
    old = os.umask(0o002)
    try:
        load_rules(ROOT / "rules.yaml")
    finally:
        os.umask(old)
    assert list(cache.glob("holidays/*/GB-ENG.json"))
    assert cache.stat().st_mode & 0o077 == 0
