"""`mentiondesk triage --score`, `rules learn`, `rules reload` and `init --preset`."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui.cli import main
from tui.core.learn import agent_action, read_conversations
from tui.core.scoring import Scorecard, parse_expect
from tui.presets import PRESETS, preset_files

ROOT = Path(__file__).resolve().parents[2]
KINDS = ROOT / "tests" / "fixtures" / "triage" / "kinds.labelled.jsonl"
TWCS = ROOT / "tests" / "fixtures" / "twcs"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- triage --score -------------------------------------------------------------------------

def test_score_prints_agreement_confusion_offline_and_misses_by_rule(capsys, tmp_path):
    lines = [
        {"id": "1", "author": "a", "created_at": "2025-01-17T19:00:00Z",
         "text": "my train is delayed again", "expect": {"actions": ["update_and_link"],
                                                        "offline": False}},
        {"id": "2", "author": "b", "created_at": "2025-01-17T19:00:00Z",
         "text": "my smartcard was charged twice", "expect": {"actions": ["take_offline"],
                                                             "offline": True}},
        # a label the shipped rules miss on purpose: an opinion expected to be answered
        {"id": "3", "author": "c", "created_at": "2025-01-17T19:00:00Z",
         "text": "imo the new livery is far too grey", "expect": {"actions": ["handoff"],
                                                           "offline": True}},
        {"id": "4", "author": "d", "created_at": "2025-01-17T19:00:00Z", "text": "unlabelled"},
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code, out, _ = run(capsys, "triage", str(path), "--score")
    assert code == 0
    assert "3 labelled mentions (1 unlabelled, not scored)" in out
    assert "suggested action acceptable   66.7%  (2/3)" in out
    assert "offline agreement             66.7%  (2/3" in out
    assert "offline precision            100.0%" in out
    assert "offline recall                50.0%" in out
    assert "confusion (rows: expected first choice, columns: suggested)" in out
    assert "misses by the rule that fired" in out and "  opinion: 1" in out
    code, out, _ = run(capsys, "triage", str(path), "--score", "--json")
    data = json.loads(out)
    assert data["labelled"] == 3 and data["action_agreed"] == 2
    assert data["confusion"]["handoff"] == {"monitor": 1}
    assert data["misses_by_rule"]["opinion"]["examples"][0]["id"] == "3"


def test_score_reads_a_csv_with_a_column_map(capsys, tmp_path):
    path = tmp_path / "labelled.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["tweet_id", "author_id", "created_at", "text", "ok", "dm"])
        w.writerow(["1", "a", "Tue Oct 31 22:10:47 +0000 2017", "le train est supprimé",
                    "update_and_link", "false"])
        w.writerow(["2", "b", "Tue Oct 31 22:10:47 +0000 2017", "my e-ticket never arrived",
                    "take_offline|assist_and_direct", "true"])
    code, out, err = run(capsys, "triage", str(path), "--score", "--map",
                         "id=tweet_id,author=author_id,expect_actions=ok,expect_offline=dm")
    assert code == 0, err
    assert "(2/2)" in out and "offline agreement            100.0%" in out


def test_score_names_the_line_of_a_bad_label(capsys, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "author": "a", "created_at": "2025-01-17T19:00:00Z", '
                    '"text": "x", "expect": {"actions": ["answer"]}}\n', encoding="utf-8")
    code, _, err = run(capsys, "triage", str(path), "--score")
    assert code == 2 and "bad.jsonl:1: unknown action 'answer'" in err  # bad input: 2


def test_parse_expect_and_scorecard_units():
    assert parse_expect(None, actions="reply|monitor", offline="").offline is None
    assert parse_expect({"actions": ["reply"], "offline": True}).offline is True
    with pytest.raises(ValueError, match="non-empty"):
        parse_expect({"actions": []})
    with pytest.raises(ValueError, match="offline 'maybe'"):
        parse_expect(None, actions="reply", offline="maybe")
    assert Scorecard().action_agreement is None


def test_shipped_policy_meets_its_targets_on_the_labelled_sets(capsys):
    """The figures README reports: public TWCS sample and the hand-made kinds."""
    for path in (TWCS / "virgintrains.labelled.jsonl", KINDS):
        code, out, _ = run(capsys, "--rules", str(ROOT / "rules.yaml"), "triage", str(path),
                           "--score", "--json")
        data = json.loads(out)
        assert code == 0
        assert data["action_agreement"] >= 0.85, (path.name, data["action_agreement"])
        assert data["offline_agreement"] >= 0.90, (path.name, data["offline_agreement"])


# -- init --preset ------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_is_written_and_passes_check(capsys, tmp_path, preset):
    code, out, _ = run(capsys, "init", "--preset", preset, "--dir", str(tmp_path / preset))
    assert code == 0 and "wrote" in out
    rules, replies = tmp_path / preset / "rules.yaml", tmp_path / preset / "replies.yaml"
    assert rules.read_bytes() == preset_files(preset)["rules.yaml"].read_bytes()
    code, out, err = run(capsys, "check", "--rules", str(rules), "--replies", str(replies))
    assert code == 0, err
    # and it triages the kinds it was written for
    code, out, err = run(capsys, "triage", str(KINDS), "--rules", str(rules), "--replies",
                         str(replies), "--score", "--json")
    assert code == 0 and json.loads(out)["labelled"] > 50


def test_init_never_overwrites_without_force(capsys, tmp_path):
    (tmp_path / "rules.yaml").write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, "init", "--preset", "retail", "--dir", str(tmp_path))
    assert code == 1 and "already exist" in err
    assert (tmp_path / "rules.yaml").read_text(encoding="utf-8") == "mine"
    code, _, _ = run(capsys, "init", "--preset", "retail", "--dir", str(tmp_path), "--force")
    assert code == 0 and (tmp_path / "rules.yaml").read_text(encoding="utf-8") != "mine"


def test_transit_preset_is_the_shipped_policy():
    files = preset_files("transit")
    assert files["rules.yaml"].read_bytes() == (ROOT / "rules.yaml").read_bytes()
    assert files["replies.yaml"].read_bytes() == (ROOT / "replies.yaml").read_bytes()


# -- rules learn ------------------------------------------------------------------------------

def test_agent_action_reads_what_the_brand_did():
    assert agent_action("@1 Could you DM us your booking reference please?") == "take_offline"
    assert agent_action("@1 Please reach us by phone or chat: https://t.co/x") == "take_offline"
    assert agent_action("@1 Sadly the service has been delayed due to a fault") == "update_and_link"
    assert agent_action("@1 You can claim via https://t.co/abc ^PA") == "assist_and_direct"
    assert agent_action("@1 Great to hear Bill 😀 ^PA") == "reply"
    assert agent_action(None) == "monitor"


def synthetic_history(path: Path, n: int = 400, seed: int = 11) -> None:
    """A few hundred conversations in the TWCS layout with planted rules: "invoice" → the
    agent asks for a DM, "outage" → a status update, "warranty" → directed to a page, the rest
    thanked.  Filler words are shared by every kind, so only the planted words predict."""
    rng = random.Random(seed)
    filler = ["hello", "today", "again", "morning", "please", "team", "week", "problem",
              "really", "update", "still", "since", "yesterday", "service", "help"]
    plants = [("invoice", "@{a} Please DM us your account details and we'll check it ^AB"),
              ("outage", "@{a} We're aware of an outage in your area, updates on our status "
                         "page ^AB"),
              ("warranty", "@{a} You can claim at https://t.co/help ^AB"),
              (None, "@{a} Thanks for the feedback ^AB")]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["tweet_id", "author_id", "inbound", "created_at", "text",
                    "response_tweet_id", "in_response_to_tweet_id"])
        tid = 1
        for i in range(n):
            word, reply = plants[i % 4]
            words = rng.sample(filler, 6)
            if word:
                words.insert(rng.randrange(6), word)
            author = f"9{i:04d}"
            stamp = f"Tue Oct 31 {10 + i // 60 % 10:02d}:{i % 60:02d}:00 +0000 2017"
            w.writerow([tid, author, "True", stamp, "@brand " + " ".join(words), tid + 1, ""])
            w.writerow([tid + 1, "brand", "False", stamp, reply.format(a=author), "", tid])
            tid += 2


def test_learn_recovers_the_planted_rules_and_improves_held_out_agreement(capsys, tmp_path):
    history = tmp_path / "history.csv"
    synthetic_history(history)
    convs = read_conversations(history)
    assert len(convs) == 400 and {c.action for c in convs} == {
        "take_offline", "update_and_link", "assist_and_direct", "reply"}
    out_rules = tmp_path / "learned.yaml"
    code, out, err = run(capsys, "rules", "learn", str(history), "--out", str(out_rules),
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    proposed = {(p["action"], p["term"]) for p in data["proposals"]}
    assert ("take_offline", "invoice") in proposed
    assert ("update_and_link", "outage") in proposed
    assert ("assist_and_direct", "warranty") in proposed
    for p in data["proposals"]:
        assert p["precision"] >= 0.6 and p["support"] >= 3
    assert data["train"] + data["held_out"] == 400 and 80 <= data["held_out"] <= 160
    assert data["agreement_held_out_after"] > data["agreement_held_out_before"]
    assert data["agreement_held_out_after"] >= 0.95
    # the new rules file is a rules file like any other: it passes check, and is readable
    text = out_rules.read_text(encoding="utf-8")
    assert '- "invoice"   # support' in text and "id: learned_take_offline" in text
    code, _, err = run(capsys, "check", "--rules", str(out_rules))
    assert code == 0, err
    code, out, _ = run(capsys, "rules", "learn", str(history))
    assert "held-out agreement" in out and "# proposed additions" in out


def test_learn_on_the_public_sample_runs(capsys):
    code, out, err = run(capsys, "rules", "learn", str(TWCS / "virgintrains.csv"), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["train"] + data["held_out"] == 244
    assert data["agreement_held_out_before"] is not None


def test_learn_says_which_column_is_missing(capsys, tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "rules", "learn", str(bad))
    assert code == 1 and "no column for 'id'" in err


# -- rules reload (a real desk process holding the lock) -----------------------------------

CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from tui.core.store import Store
    from tui.setup.reload import take_request
    data = Path(sys.argv[2])
    store = Store(data)
    def on_usr1(*_):
        r = take_request(data)
        (data / "heard").write_text(f"{r.path}|{r.retriage}")
    signal.signal(signal.SIGUSR1, on_usr1)
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
""")


def test_reload_signals_the_process_holding_the_data_dir(capsys, tmp_path):
    data = tmp_path / "data"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), str(data)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        code, out, err = run(capsys, "rules", "reload", "--data-dir", str(data), "--retriage")
        assert code == 0, err
        assert f"pid {child.pid}" in out and "re-triage" in out
        # the child writes what it heard from its signal handler
        for _ in range(200):
            if (data / "heard").exists():
                break
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.02)"], check=True)
        assert (data / "heard").read_text() == "None|True"
        assert not (data / "reload-request.json").exists()
        # a broken file is refused here: nothing is sent to the desk
        (data / "heard").unlink()
        broken = tmp_path / "broken.yaml"
        broken.write_text((ROOT / "rules.yaml").read_text(encoding="utf-8").replace(
            "action: update_and_link", "action: update", 1), encoding="utf-8")
        code, out, err = run(capsys, "rules", "reload", "--data-dir", str(data), "--rules",
                             str(broken))
        assert code == 2 and f"{broken}:" in err and "unknown action 'update'" in err
        assert "keeps its rules" in err
        assert not (data / "heard").exists() and not (data / "reload-request.json").exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def test_reload_without_a_running_desk_says_so(capsys, tmp_path):
    code, out, _ = run(capsys, "rules", "reload", "--data-dir", str(tmp_path / "none"))
    assert code == 1 and "no desk is running" in out and "next start" in out
    assert not os.path.exists(tmp_path / "none" / "reload-request.json")
