"""`mentiondesk check` (tui/cli/check.py) on the shipped files and on broken ones.

Each file in tests/data/broken/ differs from valid.rules.yaml / valid.replies.yaml by one mistake;
every case asserts the file, the line and the gist of the message (what is wrong and what to write).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import check
from tui.cli.check import check_files
from tui.core.replies import load_replies
from tui.setup.boot import default_file, packaged_file

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
VALID_RULES = BROKEN / "valid.rules.yaml"
VALID_REPLIES = BROKEN / "valid.replies.yaml"


def test_shipped_files_pass():
    assert check_files(ROOT / "rules.yaml", ROOT / "replies.yaml") == []


def test_valid_test_files_pass():
    assert check_files(VALID_RULES, VALID_REPLIES) == []


RULES_CASES = [
    ("syntax", 23, ["YAML syntax error", "expected ',' or ']'", "flow sequence at line 22"]),
    ("unknown_key", 22, ["unknown key 'keywrods'", "did you mean 'keywords'?",
                         "allowed: keywords, phrases, regex"]),
    ("bad_regex", 23, ["bad regex 'refund (of|for'", "missing ), unterminated subpattern",
                       "fix the pattern"]),
    ("unknown_team", 19, ["unknown team 'refund'", "did you mean 'refunds'?",
                          "teams under teams: (refunds, social)"]),
    ("unknown_reply", 20, ["unknown reply 'refund_asist'", "did you mean 'refund_assist'?",
                           "it to replies.yaml"]),
    ("bad_duration", 4, ["'4 hours' is not a duration", "write a duration like 15m, 1h or 1d"]),
    ("duplicate_category", 23, ["duplicate category id 'refund' (first at line 16)"]),
    ("duplicate_key", 19, ["duplicate key 'urgency' (first written at line 17)",
                           "remove one of them"]),
    ("unknown_urgency", 17, ["unknown urgency 'urgent'", "write one of critical, normal, none"]),
    ("bad_office_time", 9, ["office_hours open '8am' is not a time", 'open: "08:00"']),
    ("unknown_timezone", 7, ["unknown timezone 'Europe/Londn'", "did you mean 'Europe/London'?"]),
    ("bad_holiday", 11, ["holiday '2025-13-25' is not a date", "YYYY-MM-DD"]),
    ("empty_categories", 15, ["'categories' is empty", "fallback"]),
    ("unknown_action", 18, ["unknown action 'asist_and_direct'",
                            "did you mean 'assist_and_direct'? Write one of reply,"]),
    ("no_fallback", 23, ["the last category must catch everything", "without 'match:'"]),
    ("yes_no", 23, ["item 1 of 'unless'", "read as true/false", 'put the word in quotes ("no")']),
    ("bad_clock", 3, ["unknown clock '24/7'", "did you mean '24x7'?", "clock: office"]),
]


@pytest.mark.parametrize("name, line, fragments", RULES_CASES, ids=[c[0] for c in RULES_CASES])
def test_broken_rules(name, line, fragments):
    path = BROKEN / f"{name}.rules.yaml"
    problems = check_files(path, VALID_REPLIES)
    assert len(problems) == 1, [str(p) for p in problems]
    (problem,) = problems
    assert (problem.file, problem.line) == (str(path), line), str(problem)
    for fragment in fragments:
        assert fragment in problem.message, str(problem)
    assert str(problem) == f"{path}:{line}: {problem.message}"


REPLIES_CASES = [
    ("unknown_placeholder", 9, ["unknown placeholder {frist_name}",
                                "public variant of reply 'general_ack'", "use {name}, {handle}"]),
    ("bad_limit_unit", 4, ["unknown unit 'words' in the limit for bluesky", "graphemes: 300"]),
    ("bad_limit_type", 3, ["the limit for default must be a number, not 'lots'"]),
    ("no_variant", 8, ["reply 'general_ack' has neither 'public:' nor 'direct:'"]),
    ("too_long", 10, ["direct variant of reply 'general_ack' is 366 graphemes",
                      "bluesky allows 300"]),
]


@pytest.mark.parametrize("name, line, fragments", REPLIES_CASES,
                         ids=[c[0] for c in REPLIES_CASES])
def test_broken_replies(name, line, fragments):
    path = BROKEN / f"{name}.replies.yaml"
    problems = check_files(VALID_RULES, path)
    assert len(problems) == 1, [str(p) for p in problems]
    (problem,) = problems
    assert (problem.file, problem.line) == (str(path), line), str(problem)
    for fragment in fragments:
        assert fragment in problem.message, str(problem)


def test_rules_and_replies_problems_are_reported_together(tmp_path):
    problems = check_files(BROKEN / "unknown_team.rules.yaml",
                           BROKEN / "bad_limit_type.replies.yaml")
    assert [(Path(p.file).name, p.line) for p in problems] == [
        ("bad_limit_type.replies.yaml", 3), ("unknown_team.rules.yaml", 19)]


def test_missing_file(tmp_path):
    problems = check_files(tmp_path / "nope.yaml", VALID_REPLIES)
    assert [str(p) for p in problems] == [f"{tmp_path / 'nope.yaml'}:0: file not found"]


def test_the_config_file_is_checked_too(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("agent: sam\nundo_secnods: 10\n")
    problems = check_files(VALID_RULES, VALID_REPLIES, config)
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{config}:2: ")
    assert "undo_secnods" in str(problems[0])
    config.write_text("agent: sam\nundo_seconds: 10\n")
    assert check_files(VALID_RULES, VALID_REPLIES, config) == []


def test_default_file_prefers_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    # In a checkout the shipped copy is the repository's own (one copy, no symlink).
    assert default_file("rules.yaml") == packaged_file("rules.yaml") == ROOT / "rules.yaml"
    (tmp_path / "rules.yaml").write_text("x: 1\n")
    assert default_file("rules.yaml") == Path("rules.yaml")
    assert default_file("replies.yaml") == ROOT / "replies.yaml"


def test_run_prints_problems_and_returns_status(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no user config file
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    args = argparse.Namespace(rules=BROKEN / "unknown_team.rules.yaml", replies=VALID_REPLIES,
                              config=None)
    assert check.run(args) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"config   none ({tmp_path / 'mentiondesk' / 'config.yaml'} does not exist)",
        f"rules    {BROKEN / 'unknown_team.rules.yaml'}  (--rules)",
        f"replies  {VALID_REPLIES}  (--replies)"]
    assert err.splitlines() == [
        f"{BROKEN / 'unknown_team.rules.yaml'}:19: unknown team 'refund' in category 'refund' — "
        "did you mean 'refunds'? Write one of the teams under teams: (refunds, social)",
        "1 problem found",
    ]
    args = argparse.Namespace(rules=VALID_RULES, replies=VALID_REPLIES, config=None)
    assert check.run(args) == 0
    assert capsys.readouterr().out.endswith("\nok: 2 categories, 2 replies\n")


def test_the_parser_registers_check():
    from tui.cli import build_parser

    args = build_parser().parse_args(["check", "--rules", "r.yaml", "--replies", "p.yaml"])
    assert args.handler is check.run
    assert (args.rules, args.replies, args.config) == ("r.yaml", "p.yaml", None)


def run_check(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(cwd))
    env.pop("MENTIONDESK_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "tui.cli", "check", *arguments], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


def test_real_process_exit_codes(tmp_path):
    # cwd with its own rules.yaml/replies.yaml: they are the defaults
    (tmp_path / "rules.yaml").write_text((ROOT / "rules.yaml").read_text())
    (tmp_path / "replies.yaml").write_text((ROOT / "replies.yaml").read_text())
    ok = run_check(cwd=tmp_path)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.splitlines()[1:] == [
        "rules    rules.yaml  (the current directory)",
        "replies  replies.yaml  (the current directory)",
        f"ok: 16 categories, {len(load_replies(ROOT / 'replies.yaml').keys)} replies"]

    bad = run_check("--rules", str(BROKEN / "bad_regex.rules.yaml"), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"{BROKEN / 'bad_regex.rules.yaml'}:23: bad regex")
    # the shipped replies were used (relative default), so refund_assist was known: one problem
    assert bad.stderr.endswith("1 problem found\n")
