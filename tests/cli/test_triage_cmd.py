"""`mentiondesk triage FILE`: a dry run of the rules over a history, as text or JSON."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import triage as triage_cmd

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
RULES = ROOT / "rules.yaml"
SUPPORT_MAP = "id=tweet_id,author=author_id,in_reply_to=in_response_to_tweet_id"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mentiondesk")
    triage_cmd.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def triage(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = triage_cmd.run(parse(["triage", *argv, "--rules", str(RULES)]), out, err)
    return code, out.getvalue(), err.getvalue()


def text_summary(out: str) -> tuple[list[str], dict[str, dict[str, tuple[int, float]]], str]:
    decisions, _, summary = out.partition("\n\n")
    sections: dict[str, dict[str, tuple[int, float]]] = {}
    current = None
    for line in summary.splitlines()[1:]:
        if line.startswith("by "):
            current = sections.setdefault(line[3:].rstrip(":"), {})
        elif line.strip() and current is not None:
            name, count, pct = line.split()
            current[name] = (int(count), float(pct.rstrip("%")))
    return decisions.splitlines(), sections, summary.splitlines()[0]


@pytest.fixture(scope="module")
def thousand(tmp_path_factory) -> Path:
    """1,000 demo mentions written by the benchmark script, run as a real child process."""
    path = tmp_path_factory.mktemp("hist") / "h.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "bench/make_history.py"), str(path),
                           "-n", "1000", "--seed", "3"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote 1000 mentions")
    return path


def test_thousand_mentions_give_thousand_decisions_and_a_summary_that_adds_up(thousand):
    code, out, err = triage(str(thousand))
    assert code == 0 and err == ""
    decisions, sections, headline = text_summary(out)
    assert len(decisions) == 1000
    assert headline.startswith("1000 mentions triaged, 0 skipped")
    for title in ("category", "action", "urgency"):
        counts = sections[title]
        assert sum(n for n, _ in counts.values()) == 1000, title
        assert abs(sum(p for _, p in counts.values()) - 100) < 1
    # every category of the rules is listed, in the rules' order, zeros included
    from tui.core.rules import load_rules
    assert list(sections["category"]) == load_rules(RULES).categories
    assert sections["category"]["service_disruption"][0] > 100
    # one line per decision with the columns in order, then the start of the text
    first = decisions[0].split()
    assert first[0] == "2025-03-03" and first[2].startswith("@")
    assert first[3] in sections["category"] and first[5] in sections["action"]
    assert all(" | " in d for d in decisions)


def test_json_output_parses_and_matches_the_text_run(thousand):
    code, out, _ = triage(str(thousand), "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    *decisions, last = lines
    summary = last["summary"]
    assert len(decisions) == summary["mentions"] == 1000
    assert sum(summary["by_category"].values()) == 1000
    assert sum(summary["by_action"].values()) == 1000
    assert summary["offline"] == sum(d["offline"] for d in decisions)
    d = decisions[0]
    assert {"key", "created_at", "handle", "category", "urgency", "action", "team", "offline",
            "why", "text", "deadline"} <= set(d)
    _, text_out, _ = triage(str(thousand))
    _, sections, _ = text_summary(text_out)
    assert {k: n for k, (n, _) in sections["category"].items()} == summary["by_category"]


def test_support_csv_with_map():
    code, out, err = triage(str(DATA / "support.csv"), "--map", SUPPORT_MAP)
    assert code == 0
    decisions, _, headline = text_summary(out)
    assert len(decisions) == 5 and headline.startswith("5 mentions triaged, 1 skipped")
    assert "support.csv:6:" in err and "not a date" in err
    cats = [line.split()[3] for line in decisions]
    assert cats[0] == "service_disruption" and "refund" in cats and "staff_complaint" in cats
    assert all(line.startswith("2017-10-31") for line in decisions)
    # the two-line CSV text stays on its decision's line
    assert any("claim a refund for my ticket? the form" in line for line in decisions)


def test_malformed_lines_are_skipped_and_counted():
    code, out, err = triage(str(DATA / "history.jsonl"), "--json")
    assert code == 0
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert (summary["mentions"], summary["skipped"]) == (6, 3)
    assert [re.search(r"history\.jsonl:(\d+): ", line)[1] for line in err.splitlines()] == [
        "8", "9", "10"]
    card = json.loads(out.splitlines()[-2])
    assert card["id"] == "h8" and card["offline"] and "card number" in card["offline_reasons"]


def test_repeat_contacts_count_in_the_dry_run(tmp_path):
    # roughly in order: ana's 6 March mention comes before her 5 March one in the file
    rows = [{"id": str(i), "author": "ana", "created_at": f"2025-03-0{i}T09:00:00Z",
             "text": "@northline is the 07:48 to Millbrook cancelled?"} for i in (3, 4, 6, 5)]
    rows.append({"id": "9", "author": "bob", "created_at": "2025-03-05T09:00:00Z",
                 "received_at": "2025-03-05T12:00:00Z", "text": "@northline hello"})
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, out, _ = triage(str(path), "--json")
    assert code == 0
    by_id = {d["id"]: d for d in map(json.loads, out.splitlines()[:-1])}
    # only contacts posted earlier count
    assert "repeat customer (2 contacts" in by_id["5"]["why"]
    assert "repeat customer (2 contacts" in by_id["6"]["why"]
    assert "repeat" not in by_id["4"]["why"] and "repeat" not in by_id["3"]["why"]
    # no received_at in the file: no waiting; with one, the wait counts
    assert "waiting" not in by_id["3"]["why"] and "waiting" in by_id["9"]["why"]


def test_bad_map_exits_1_naming_the_column():
    code, out, err = triage(str(DATA / "support.csv"), "--map", "id=tweetid")
    assert code == 2 and out == ""
    assert "'tweetid'" in err and "tweet_id" in err and "in_response_to_tweet_id" in err
    code, _, err = triage(str(DATA / "support.csv"), "--map", "id=tweet_id,colour=x")
    assert code == 2 and "unknown field 'colour'" in err
    code, _, err = triage(str(DATA / "support.csv"))
    assert code == 2 and "--map" in err


def test_unreadable_file_exits_1(tmp_path):
    code, _, err = triage(str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl" in err
    (tmp_path / "h.txt").write_text("x", encoding="utf-8")
    code, _, err = triage(str(tmp_path / "h.txt"))
    assert code == 2 and "unknown file type" in err


def test_bad_rules_exit_2_with_their_problems(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(RULES.read_text(encoding="utf-8").replace("urgency: critical",
                                                             "urgency: extreme", 1),
                   encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = triage_cmd.run(parse(["triage", str(DATA / "history.jsonl"), "--rules", str(bad)]),
                          out, err)
    assert code == 2 and out.getvalue() == ""
    assert f"{bad}:" in err.getvalue() and "extreme" in err.getvalue()
    code = triage_cmd.run(parse(["triage", str(DATA / "history.jsonl"),
                                 "--rules", str(tmp_path / "missing.yaml")]), out, err)
    assert code == 2 and "missing.yaml" in err.getvalue()


def test_real_command_line(thousand):
    """The installed command, as a child process: exit codes and output streams."""
    base = [sys.executable, "-m", "tui.cli", "triage"]
    ok = subprocess.run([*base, str(DATA / "support.csv"), "--map", SUPPORT_MAP, "--json",
                         "--rules", str(RULES)], capture_output=True, text=True, timeout=60,
                        cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["summary"]["mentions"] == 5
    bad = subprocess.run([*base, str(DATA / "support.csv"), "--map", "id=tweetid",
                          "--rules", str(RULES)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert bad.returncode == 2 and "'tweetid'" in bad.stderr and bad.stdout == ""
