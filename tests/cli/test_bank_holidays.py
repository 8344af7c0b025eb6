"""Bank holidays from the ``holidays`` library plus extra dates, in rules.yaml and the config;
``check`` warns when a calendar runs out (issue 13, item 8)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT

from tui.cli import main
from tui.cli.check import calendar_warnings
from tui.core.rules import RulesError, load_rules
from tui.setup.config import load_config, validate

SHIPPED = (ROOT / "rules.yaml").read_text()
OFFICE = re.compile(r"  holidays:.*\n")


def rules_with(tmp_path: Path, holidays: str):
    path = tmp_path / "rules.yaml"
    path.write_text(OFFICE.sub(holidays.replace("\\", "\\\\") + "\n", SHIPPED, count=1))
    return path


def test_the_shipped_rules_use_the_library_for_england(tmp_path: Path) -> None:
    office = load_rules(ROOT / "rules.yaml").office_hours
    # Years no hand-typed list covered: Christmas 2031 (Thursday), Easter Monday 2040.
    for day in (date(2031, 12, 25), date(2040, 4, 2), date(2035, 8, 27)):
        assert office.is_holiday(day) and not office.is_open(
            datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
    assert not office.is_holiday(date(2031, 1, 2))  # a Scottish holiday, not an English one
    # A 1-hour office deadline set on the evening before Christmas 2031 lands after Boxing Day.
    due = office.add(datetime(2031, 12, 24, 19, 30, tzinfo=UTC), timedelta(hours=1))
    assert due.date() == date(2031, 12, 29)


def test_a_region_and_extra_dates(tmp_path: Path) -> None:
    path = rules_with(tmp_path, "  holidays: {country: GB, subdiv: SCT, extra: [2031-06-13]}")
    office = load_rules(path).office_hours
    assert office.is_holiday(date(2031, 1, 2)) and office.is_holiday(date(2031, 6, 13))


@pytest.mark.parametrize(("text", "message"), [
    ("  holidays: {country: GBR1}", "holidays country 'GBR1' is not known"),
    ("  holidays: {country: GB, subdiv: ENX}", "holidays subdiv 'ENX' is not a region of GB — "
                                               "did you mean 'ENG'?"),
    ("  holidays: {subdiv: ENG}", "country"),
    ("  holidays: {country: GB, extra: [someday]}", "holiday 'someday' is not a date"),
])
def test_a_bad_calendar_names_the_line_and_the_fix(tmp_path: Path, text: str,
                                                    message: str) -> None:
    path = rules_with(tmp_path, text)
    line = path.read_text().splitlines().index(text) + 1
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert any(p.line == line and message in str(p) for p in caught.value.problems), \
        [str(p) for p in caught.value.problems]


def test_the_config_takes_the_same_calendar(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("office_hours:\n  timezone: Europe/Paris\n  days: [mon, tue, wed, thu, fri]\n"
                      '  open: "09:00"\n  close: "18:00"\n'
                      "  holidays: {country: FR, extra: [2032-07-15]}\n")
    assert validate(config) == []
    office = load_config(config).office_hours
    assert office.is_holiday(date(2032, 7, 14)) and office.is_holiday(date(2032, 7, 15))


def test_check_warns_when_the_calendar_runs_out(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    last_year = datetime.now(UTC).year - 1
    path = rules_with(tmp_path, f"  holidays:\n    - {last_year}-12-25\n    - {last_year}-12-26")
    assert main(["check", "--rules", str(path), "--replies", str(ROOT / "replies.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}: the office_hours holidays calendar ended on {last_year}-12-31" in err
    assert main(["check", "--replies", str(ROOT / "replies.yaml"),
                 "--rules", str(ROOT / "rules.yaml")]) == 0
    assert "warning" not in capsys.readouterr().err  # the library: known to 2100


def test_the_warning_comes_a_year_ahead() -> None:
    from tui.core.hours import OfficeHours

    office = OfficeHours("Europe/London", ["mon"], datetime(2000, 1, 1, 8).time(),
                         datetime(2000, 1, 1, 17).time(), [date(2027, 12, 25)])
    assert calendar_warnings(office, "r.yaml", today=date(2026, 6, 1)) == []
    [warning] = calendar_warnings(office, "r.yaml", today=date(2027, 1, 10))
    assert "ends on 2027-12-31" in warning
