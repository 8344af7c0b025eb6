"""Every common option works before and after the sub-command (issue 13, item 1).

argparse copies a sub-parser's defaults over what the top-level parser read, so an option given
before the command used to be silently dropped.  Each test here runs once with the option before
the command and once after it, and checks the option's *effect*, not only the parsed value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, new_desk
from deskkit import mention

from tui.cli import build_parser, main
from tui.cli.common import merge_positions
from tui.core.store import Store
from tui.sources.registry import make_source, source_options

RULES, REPLIES = str(ROOT / "rules.yaml"), str(ROOT / "replies.yaml")
POSITIONS = ("before", "after")


def argv(position: str, option: list[str], command: list[str]) -> list[str]:
    """``option`` placed before the command name or after the command's own arguments."""
    return option + command if position == "before" else command + option


@pytest.fixture
def desk_dir(tmp_path: Path) -> Path:
    store = Store(tmp_path / "desk")
    new_desk(store).ingest([mention("I want a refund for my cancelled ticket", "rita")])
    store.close()
    return tmp_path / "desk"


def files() -> list[str]:
    return ["--rules", RULES, "--replies", REPLIES]


@pytest.mark.parametrize("position", POSITIONS)
def test_data_dir(position, capsys, desk_dir: Path) -> None:
    code = main(argv(position, ["--data-dir", str(desk_dir)], ["queue", "--json", *files()]))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["handle"] for line in out.splitlines()] == ["rita"]


@pytest.mark.parametrize("position", POSITIONS)
def test_rules(position, capsys, tmp_path: Path) -> None:
    broken = tmp_path / "broken-rules.yaml"
    broken.write_text("categories: [oops\n")
    code = main(argv(position, ["--rules", str(broken)], ["check", "--replies", REPLIES]))
    _, err = capsys.readouterr()
    assert code == 2 and str(broken) in err


@pytest.mark.parametrize("position", POSITIONS)
def test_replies(position, capsys, tmp_path: Path) -> None:
    broken = tmp_path / "broken-replies.yaml"
    broken.write_text("replies: {refund_assist: 3\n")
    code = main(argv(position, ["--replies", str(broken)], ["check", "--rules", RULES]))
    _, err = capsys.readouterr()
    assert code == 2 and str(broken) in err


@pytest.mark.parametrize("position", POSITIONS)
def test_config(position, capsys, tmp_path: Path) -> None:
    config = tmp_path / "secret.yaml"
    config.write_text("agent: sam\ntoken: abc\n")
    code = main(argv(position, ["--config", str(config)], ["check", *files()]))
    _, err = capsys.readouterr()
    assert code == 2 and f"{config}:2" in err and "secrets are not allowed" in err


@pytest.mark.parametrize("position", POSITIONS)
def test_agent(position, capsys, desk_dir: Path) -> None:
    code = main(argv(position, ["--agent", "alex"],
                     ["note", "1", "called back", "--data-dir", str(desk_dir), *files()]))
    assert code == 0, capsys.readouterr().err
    store = Store(desk_dir)
    try:
        notes = [e for e in new_desk(store).events.values() if e.kind == "note"]
        assert [e.agent for e in notes] == ["alex"]
    finally:
        store.close()


@pytest.mark.parametrize("position", POSITIONS)
def test_log_level(position, tmp_path: Path) -> None:
    args = build_parser().parse_args(argv(position, ["--log-level", "debug"], ["check"]))
    assert args.log_level == "DEBUG"


@pytest.mark.parametrize("position", POSITIONS)
def test_source(position, capsys, tmp_path: Path) -> None:
    history = ROOT / "tests" / "data" / "history.jsonl"
    code = main(argv(position, ["--source", f"replay:{history}"],
                     ["ingest", "--once", "--no-deliver", "--data-dir", str(tmp_path / "d"),
                      *files()]))
    out, err = capsys.readouterr()
    assert code == 0, err
    keys = [json.loads(line)["mention"] for line in out.splitlines()]
    assert keys and all(k.startswith(f"replay:{history}|") for k in keys)


def test_sources_given_in_both_places_add_up() -> None:
    args = merge_positions(build_parser().parse_args(
        ["--source", "demo", "ingest", "--source", "replay:x.jsonl"]))
    assert args.source == ["demo", "replay:x.jsonl"]


@pytest.mark.parametrize("position", POSITIONS)
def test_map(position, capsys, tmp_path: Path) -> None:
    history = ROOT / "tests" / "data" / "support.csv"
    code = main(argv(position, ["--map", "id=tweet_id,author=author_id,"
                                         "in_reply_to=in_response_to_tweet_id"],
                     ["ingest", "--source", f"replay:{history}", "--once", "--no-deliver",
                      "--data-dir", str(tmp_path / "d"), *files()]))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() and all(json.loads(line)["category"] for line in out.splitlines())


def built(position: str, option: list[str], spec: str):
    """The source ``ingest`` builds with ``option`` in ``position`` (no --once)."""
    args = merge_positions(build_parser().parse_args(
        argv(position, option, ["ingest", "--source", spec])))
    return make_source(spec, options=source_options(spec, args))


@pytest.mark.parametrize("position", POSITIONS)
def test_speed(position) -> None:
    assert built(position, ["--speed", "max"], "replay:h.jsonl").speed is None  # None: max
    assert built(position, ["--speed", "4"], "replay:h.jsonl").speed == 4


@pytest.mark.parametrize("position", POSITIONS)
def test_seed(position) -> None:
    assert built(position, ["--seed", "11"], "demo").seed == 11


@pytest.mark.parametrize("position", POSITIONS)
def test_rate(position) -> None:
    assert built(position, ["--rate", "2.5"], "demo").rate == 2.5


@pytest.mark.parametrize("position", POSITIONS)
def test_burst(position) -> None:
    assert built(position, ["--burst"], "demo").burst is True


def test_a_flag_left_out_never_overwrites_the_config(tmp_path: Path) -> None:
    from tui.setup.config import load_config

    config_file = tmp_path / "config.yaml"
    config_file.write_text("sources:\n  - spec: demo\n    seed: 42\n    rate: 3\n"
                           "  - spec: replay:h.jsonl\n    speed: max\n")
    config = load_config(config_file)
    args = merge_positions(build_parser().parse_args(["ingest"]))
    demo = make_source("demo", config, options=source_options("demo", args))
    replay = make_source("replay:h.jsonl", config, options=source_options("replay:h.jsonl", args))
    assert (demo.seed, demo.rate, replay.speed) == (42, 3.0, None)
    # ... and without a config a replay plays at real time
    assert make_source("replay:h.jsonl", options=source_options("replay:h.jsonl", args)).speed == 1


def test_source_options_on_a_command_that_runs_no_source_are_refused(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--speed", "max", "queue"])
    assert stop.value.code == 2 and "queue does not" in capsys.readouterr().err
