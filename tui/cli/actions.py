"""``mentiondesk queue`` / ``show`` / ``outbox`` and the action commands, on the stored desk.

Every action the console can do is scriptable here, by conversation id:

    mentiondesk queue --json
    mentiondesk reply 42 --suggested
    mentiondesk handoff 42 safety --note "CCTV request"
    mentiondesk undo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..core.api import MARKERS, ActionRefused, AlreadyAnswering, describe, describe_all
from ..core.conversation import Conversation
from ..core.desk import Desk
from ..core.model import DIRECT, PUBLIC, iso, parse_time
from ..core.replies import ReplyRefused
from ..core.rows import conversation_row, row_due_text
from ..core.text import cell_len, one_line
from ..core.when import due_text, need_reply_text
from ..setup.boot import BootError, desk_session, options_from
from .common import LOCKED, OK, REFUSED, USAGE, add_common


def _office_tz(desk: Desk) -> Any:
    return getattr(desk.rules.office_hours, "tz", None) or UTC


def fit(text: str, cells: int, *, pad: bool = True) -> str:
    """``text`` on one line in exactly ``cells`` terminal cells (wide characters and emoji
    count two; cropped with "…", padded with spaces unless ``pad`` is false)."""
    out, used = "", 0
    flat = one_line(text)
    for ch in flat:
        w = cell_len(ch)
        if used + w > cells - (1 if len(flat) > len(out) + 1 else 0):
            out += "…"
            used += 1
            break
        out += ch
        used += w
    return out + " " * (cells - used) if pad else out


def fmt_left(desk: Desk, conv: Conversation, now: datetime) -> str:
    """``14m (09:30)``: the countdown and the wall-clock due time, office-local."""
    return due_text(desk.time_left(conv, now), conv.deadline, _office_tz(desk), now) or "-"


def conv_summary(desk: Desk, conv: Conversation, now: datetime) -> dict[str, Any]:
    return conversation_row(desk, conv, now)


def cmd_queue(desk: Desk, args: argparse.Namespace) -> int:
    now = desk.clock()
    ids = list(desk.queue) if not args.all else sorted(
        desk.conversations, key=lambda c: desk.sort_key(desk.conversations[c]))
    ids = ids[: args.limit] if args.limit else ids
    print_queue([conv_summary(desk, desk.conversations[c], now) for c in ids],
                desk.counts(now), args)
    return OK


def print_queue(rows: list[dict[str, Any]], counts: dict[str, int],
                args: argparse.Namespace) -> None:
    """``mentiondesk queue``'s output from the queue's rows (``tui.core.rows``, most urgent
    first) and the desk's counts — the same whether the rows came from the desk here or
    streamed from the desk process (``via.route``): one JSON object a row with ``--json``,
    else one line a row fitted to the terminal and a line of counts."""
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        print("the queue is empty")
        return
    # Lines fit the terminal (a care agent on an 80-column SSH session): the category column
    # only from 100 columns, the message text takes what is left.  Piped: 120 columns.
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 120
    handle_w = 16 if width < 100 else 20
    category_w = 18 if width >= 100 else 0
    lefts = [row_due_text(r) or "-" for r in rows]
    left_w = max(16, *(cell_len(t) for t in lefts))  # "23h59 (Wed 11:51)" is 17: one column
    for r, left in zip(rows, lefts, strict=True):
        line = (f"{r['id']:>6} {r['urgency'][:4]:4} {left:>{left_w}} "
                f"{'DM' if r['channel'] == DIRECT else 'pub':3} {r['markers']} "
                f"@{fit(r['handle'], handle_w)} ")
        if category_w:
            line += fit(r["category"], category_w) + " "
        print(line + fit(r["text"], max(10, width - 1 - cell_len(line)), pad=False))
    print(f"-- {counts['open']} open, {need_reply_text(counts)}, "
          f"{counts['at_risk']} at risk, {counts['breached']} breached")


def cmd_show(desk: Desk, args: argparse.Namespace) -> int:
    conv = desk.get(args.id)
    now = desk.clock()
    hist = desk.history(conv.id)
    sug = desk.suggestion(conv.id)
    if args.json:
        print(json.dumps({
            "conversation": conv_summary(desk, conv, now),
            "profile": desk.profile(conv.id),
            "history": [
                {"at": iso(h.at), "conv": h.conv_id, "mention": h.mention.to_dict()}
                if h.mention else
                {"at": iso(h.at), "conv": h.conv_id, "event": h.event.to_dict(),
                 "outbox": [{"kind": i["kind"], "status": i["status"]} for i in h.outbox]}
                for h in hist],
            "suggestion": {"action": sug.action, "team": sug.team, "offline": sug.offline,
                           "reply_key": sug.reply_key, "text": sug.text, "bridge": sug.bridge,
                           "dm": sug.dm, "dm_closed": sug.dm_closed, "refused": sug.refused,
                           "why": sug.triage.why},
        }, ensure_ascii=False, indent=1))
        return OK
    p = desk.profile(conv.id)
    name = f" ({p['name']})" if p.get("name") and p["name"] != conv.handle else ""
    print(f"#{conv.id} @{conv.handle}{name} — {p['followers']} followers"
          f"{', verified' if p['verified'] else ''}; {p['contacts']} contacts; status "
          f"{conv.status}; {conv.urgency}; due in {fmt_left(desk, conv, now)}")
    for h in hist:
        when = h.at.strftime("%Y-%m-%d %H:%M")
        if h.mention:
            ch = {"direct": "DM ", "public": "pub", "unlisted": "unlisted",
                  "followers": "followers-only"}.get(h.mention.visibility, "pub")
            skew = h.mention.clock_skew
            flag = (f" [sender's clock: {h.mention.sent_at:%Y-%m-%d %H:%M}, off by "
                    f"{abs(skew.total_seconds()) / 60:.0f} min]" if skew is not None else "")
            print(f"  {when} {ch} @{h.mention.author.handle}: "
                  f"{one_line(h.mention.text, 200)}{flag}")
        else:
            ev = h.event
            status = ", ".join(f"{i['kind']} {i['status']}" for i in h.outbox)
            undone = " (undone)" if ev.undone else ""
            detail = event_detail(ev.kind, ev.details)
            print(f"  {when} {ev.kind}{undone} by {ev.agent}"
                  f"{': ' + one_line(detail, 160) if detail else ''}"
                  f"{' [' + status + ']' if status else ''}")
    how = [f"team {sug.team}"] if sug.team else []
    how += ["take offline"] if sug.offline else []
    print(f"suggested: {sug.action}{' (' + ', '.join(how) + ')' if how else ''} — "
          f"{sug.triage.why}")
    if sug.dm_closed:
        print(f"  take offline not offered: {sug.dm_closed}")
    for label, text in (("reply", sug.text), ("bridge", sug.bridge), ("dm", sug.dm)):
        if text:
            print(f"  {label}: {text}")
    for reason in sug.refused:
        print(f"  refused: {reason}")
    return OK


def event_detail(kind: str, d: dict[str, Any]) -> str:
    """The part of an event worth a line in ``show`` ("" when there is nothing to say)."""
    if kind == "snooze":
        try:  # to the minute, like the history's own times: never seconds and microseconds
            return f"until {parse_time(d['until']):%Y-%m-%d %H:%M} UTC" if d.get("until") else ""
        except (TypeError, ValueError):
            return f"until {one_line(str(d['until']), 40)}"
    if kind == "assign":
        return f"to {d['to']}" if d.get("to") else ""
    if kind == "tag":
        return f"{'-' if d.get('remove') else '+'}{d.get('tag', '')}"
    if kind == "handoff":
        parts = [d.get("team"), d.get("case_id"), d.get("note")]
        return " — ".join(str(x) for x in parts if x)
    if kind == "ignore":
        return str(d.get("reason") or "")
    if kind == "undo":
        return ", ".join(d.get("kinds") or [])
    if kind == "offline":
        return " / DM: ".join(str(x) for x in (d.get("bridge"), d.get("dm")) if x)
    return str(d.get("text") or d.get("note") or "")


def cmd_outbox(desk: Desk, args: argparse.Namespace) -> int:
    items = sorted(desk.outbox.items.values(), key=lambda i: i["created_at"])
    if not args.all:
        items = [i for i in items if i["status"] in ("pending", "sending", "failed")]
    for i in items:
        if args.json:
            print(json.dumps(i, ensure_ascii=False))
        else:
            err = f" — {i['error']}" if i.get("error") else ""
            print(f"{i['id'][:8]} #{i['conv_id']} {i['kind']:10} {i['status']:9} "
                  f"{one_line(i['text'], 60)}{err}")
    if not items and not args.json:
        print("nothing waiting in the outbox")
    return OK


def done(desk: Desk, args: argparse.Namespace, text: str, events: list[Any],
         **extra: Any) -> int:
    """Say what was done: ``text`` for people, or with ``--json`` one object with the ids a
    script needs — ``conv``, ``events`` (event ids, for undo and the audit trail), ``outbox``
    (each queued post's id, kind, channel and status) and the command's own fields (``extra``:
    ``case_id``, ``until``, ...)."""
    if getattr(args, "json", False):
        outbox = [{"id": i["id"], "kind": i["kind"], "channel": i.get("channel"),
                   "status": i["status"], "event": ev.id}
                  for ev in events for i in desk.outbox.for_event(ev.id)]
        print(json.dumps({"command": args.command, "conv": events[0].conv if events else None,
                          "events": [ev.id for ev in events], "outbox": outbox, **extra},
                         ensure_ascii=False))
    else:
        print(text)
    return OK


def cmd_reply(desk: Desk, args: argparse.Namespace) -> int:
    text = args.text
    key = None
    if args.key:
        text, key = desk.render_reply(args.id, args.key), args.key
    elif args.suggested:
        sug = desk.suggestion(args.id)
        text, key = sug.text, sug.reply_key
        if text is None:
            raise ActionRefused(sug.refused or ["no suggested reply for this conversation"])
    if not text:
        raise ActionRefused("give the reply text, --suggested or --key KEY")
    ev = desk.reply(args.id, text, reply_key=key, again=args.again)
    items = desk.outbox.for_event(ev.id)
    return done(desk, args, f"{describe(ev)}: queued as "
                            f"{', '.join(i['id'] for i in items) or ev.id}", [ev],
                channel=ev.details["channel"])


def cmd_offline(desk: Desk, args: argparse.Namespace) -> int:
    sug = desk.suggestion(args.id)
    bridge = args.bridge if args.bridge is not None else sug.bridge
    dm = args.dm or desk.offline_dm(args.id)
    if not dm:
        raise ActionRefused(sug.refused or ["give --dm TEXT"])
    conv = desk.get(args.id)
    if conv.offline and args.bridge is None:
        bridge = None  # already offline: no second "we've sent you a DM" in public
    elif bridge is None:
        bridge = desk.render_bridge(args.id)
    ev = desk.take_offline(args.id, bridge, dm, again=args.again)
    items = desk.outbox.for_event(ev.id)
    return done(desk, args, f"{describe(ev)}: " + ", ".join(
        f"{i['kind']} queued as {i['id']}" for i in items), [ev])


def cmd_handoff(desk: Desk, args: argparse.Namespace) -> int:
    ev = desk.handoff(args.id, args.team, args.note or "")
    return done(desk, args, describe(ev), [ev], team=ev.details["team"],
                case_id=ev.details["case_id"])


def cmd_resolve(desk: Desk, args: argparse.Namespace) -> int:
    text = args.close_loop
    if args.close_loop_suggested:
        text = desk.render_reply(args.id, "close_loop", PUBLIC)
    ev = desk.resolve(args.id, text)
    return done(desk, args, describe(ev), [ev])


def cmd_snooze(desk: Desk, args: argparse.Namespace) -> int:
    ev = desk.snooze(args.id, desk.snooze_until(args.until))
    return done(desk, args, describe(ev, _office_tz(desk)), [ev], until=ev.details["until"])


def cmd_ignore(desk: Desk, args: argparse.Namespace) -> int:
    ev = desk.ignore(args.id, args.reason)
    return done(desk, args, describe(ev), [ev], reason=args.reason)


def cmd_assign(desk: Desk, args: argparse.Namespace) -> int:
    ev = desk.assign(args.id, args.to)
    return done(desk, args, describe(ev), [ev], to=ev.details["to"])


def cmd_tag(desk: Desk, args: argparse.Namespace) -> int:
    if args.tag is None:
        raise ValueError("give the tag: tag ID TAG (or -TAG to remove it)")
    ev = desk.tag(args.id, args.tag)
    return done(desk, args, describe(ev), [ev], tag=ev.details["tag"],
                removed=ev.details["remove"])


def cmd_note(desk: Desk, args: argparse.Namespace) -> int:
    if args.text is None:
        raise ValueError("give the note: note ID TEXT")
    ev = desk.note(args.id, args.text)
    return done(desk, args, describe(ev), [ev])


def cmd_accept(desk: Desk, args: argparse.Namespace) -> int:
    events = desk.accept(args.id)
    case = next((e.details["case_id"] for e in events if e.details.get("case_id")), None)
    return done(desk, args, describe_all(events), events, kinds=[e.kind for e in events],
                case_id=case)


def cmd_undo(desk: Desk, args: argparse.Namespace) -> int:
    ev = desk.undo(conv_id=args.id)
    undone = list(ev.details.get("undid") or [])
    cancelled = [i["id"] for e in undone for i in desk.outbox.for_event(e)
                 if i["status"] == "cancelled"]
    return done(desk, args, describe(ev) + (f"; cancelled {', '.join(cancelled)}"
                                            if cancelled else ""), [ev],
                kinds=ev.details["kinds"], undid=undone, cancelled=cancelled)


def cmd_approvals(desk: Desk, args: argparse.Namespace) -> int:
    items = desk.approvals_waiting()
    if args.json:
        for item in items:
            print(json.dumps(item, ensure_ascii=False))
        return OK
    now = desk.clock()
    for item in items:
        conv = desk.conversations.get(item["conv_id"])
        left = fmt_left(desk, conv, now) if conv is not None else "-"
        print(f"{item['id']:8} #{item['conv_id']} by {item['agent']} (due in {left}): "
              f"{one_line(desk.approval_text(item), 80)}")
    if not items:
        print("no reply waits for approval")
    return OK


def cmd_decide(desk: Desk, args: argparse.Namespace) -> int:
    raise ActionRefused("a lead approves or rejects through the desk process (it knows who "
                        "is who): start it with `mentiondesk server`")


COMMANDS: dict[str, tuple[Callable[[Desk, argparse.Namespace], int], str]] = {
    "queue": (cmd_queue, "list open conversations, most urgent first (markers: "
              + ", ".join(f"{m.symbol} {m.meaning}" for m in MARKERS) + ")"),
    "show": (cmd_show, "a conversation's history, profile and suggested action"),
    "outbox": (cmd_outbox, "posts waiting to go out (and failed ones)"),
    "reply": (cmd_reply, "reply to a conversation"),
    "offline": (cmd_offline, "take a conversation offline: public bridge reply + DM"),
    "handoff": (cmd_handoff, "hand a conversation to a team (opens a case id)"),
    "resolve": (cmd_resolve, "resolve, optionally closing the loop publicly"),
    "snooze": (cmd_snooze, "snooze until a time (30m, 2h, 17:30, tomorrow)"),
    "ignore": (cmd_ignore, "mark as spam / ignore (nothing is deleted)"),
    "assign": (cmd_assign, "assign to an agent (default: you)"),
    "tag": (cmd_tag, "tag a conversation (-TAG removes)"),
    "note": (cmd_note, "add an internal note"),
    "accept": (cmd_accept, "do the whole suggested action in one step"),
    "undo": (cmd_undo, "undo your last action (optionally on one conversation)"),
    "approvals": (cmd_approvals, "replies waiting for a lead's approval"),
    "approve": (cmd_decide, "lead: approve a waiting reply (it goes out through the outbox)"),
    "reject": (cmd_decide, "lead: return a waiting reply to its author with a note"),
}


def add_parsers(sub: Any) -> None:
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_common(p)
        p.set_defaults(handler=run, command=name)
        if name == "approvals":
            p.add_argument("--json", action="store_true", help="one JSON object per line")
            continue
        if name in ("approve", "reject"):
            p.add_argument("approval", help="approval id (from `mentiondesk approvals`)")
            if name == "reject":
                p.add_argument("--note", required=True, help="why: it goes to the author")
            continue
        if name in ("queue", "outbox"):
            p.add_argument("--json", action="store_true", help="one JSON object per line")
            p.add_argument("--all", action="store_true",
                           help="include every status" if name == "queue" else "include sent")
            if name == "queue":
                p.add_argument("--limit", type=int, default=0, help="show at most N")
            continue
        if name == "undo":
            p.add_argument("id", nargs="?", help="only undo on this conversation")
            p.add_argument("--json", action="store_true", help="one JSON object with the ids")
            continue
        p.add_argument("id", help="conversation id (from `mentiondesk queue`)")
        p.add_argument("--json", action="store_true",
                       help="one JSON object (with --json an action prints the ids a script "
                            "needs: conversation, events, outbox items, case id)")
        if name == "reply":
            p.add_argument("text", nargs="?", help="the reply text")
            p.add_argument("--suggested", action="store_true", help="send the suggested reply")
            p.add_argument("--key", help="send this canned reply (replies.yaml key)")
            p.add_argument("--again", action="store_true",
                           help="send even though an answer is pending or was just sent")
        elif name == "offline":
            p.add_argument("--bridge", help="the public reply (default: the suggested bridge)")
            p.add_argument("--dm", help="the direct message (default: the suggested one)")
            p.add_argument("--again", action="store_true",
                           help="send even though an answer is pending or was just sent")
        elif name == "handoff":
            p.add_argument("team", help="team id from rules.yaml")
            p.add_argument("--note", help="what the team needs to know")
        elif name == "resolve":
            p.add_argument("--close-loop", help="a public close-the-loop message")
            p.add_argument("--close-loop-suggested", action="store_true",
                           help="send the canned close-the-loop message")
        elif name == "snooze":
            p.add_argument("until", help="30m, 2h, 17:30, tomorrow or an ISO time")
        elif name == "ignore":
            p.add_argument("--reason", default="spam", help="spam, abuse, ... (default spam)")
        elif name == "assign":
            p.add_argument("to", nargs="?", help="agent name (default: you)")
        elif name == "tag":
            p.add_argument("tag", nargs="?",
                           help="the tag; -TAG removes it (`tag 5 -vip` works as is)")
        elif name == "note":
            p.add_argument("text", nargs="?", help="the note")


def run(args: argparse.Namespace) -> int:
    """Run an action command: through the desk process when one serves the data directory
    (starting one first for a team desk or with ``MENTIONDESK_DESK_PROCESS=start``), else on
    the desk directly."""
    from .via import route

    routed = route(args)
    if routed is not None:
        return routed
    handler = COMMANDS[args.command][0]
    try:
        with desk_session(options_from(args), create=False,
                          notes=lambda n: print(f"mentiondesk: {n}", file=sys.stderr)) as desk:
            return act(handler, desk, args)
    except BootError as exc:
        if exc.code == LOCKED:
            # A desk process may be starting (it holds the lock before it listens).
            routed = route(args, wait=True)
            if routed is not None:
                return routed
        print(f"mentiondesk: {exc}", file=sys.stderr)
        if exc.code == LOCKED:
            from ..server.autostart import long_path_hint, socket_fits
            from ..setup.boot import data_dir, load_config

            with contextlib.suppress(BootError):
                opts = options_from(args)
                where = data_dir(opts, load_config(opts))
                if not socket_fits(where):
                    print(f"mentiondesk: {long_path_hint(where)}", file=sys.stderr)
        return exc.code


def act(handler: Callable[[Desk, argparse.Namespace], int], desk: Desk,
        args: argparse.Namespace) -> int:
    """Run one command on an open desk; refusals are printed with their reasons."""
    try:
        return handler(desk, args)
    except ActionRefused as exc:
        for reason in exc.reasons:
            print(f"mentiondesk: refused: {reason}", file=sys.stderr)
        if isinstance(exc, AlreadyAnswering):
            print("mentiondesk: add --again to send it anyway", file=sys.stderr)
        return REFUSED
    except ReplyRefused as exc:
        print(f"mentiondesk: refused: {exc}", file=sys.stderr)
        return REFUSED
    except KeyError as exc:
        print(f"mentiondesk: {exc.args[0]}", file=sys.stderr)
        return REFUSED
    except ValueError as exc:
        print(f"mentiondesk: {exc}", file=sys.stderr)
        return USAGE


def execute(desk: Desk, name: str, argv: dict[str, Any]) -> tuple[int, str, str]:
    """Run the action command ``name`` inside the desk process for a CLI client: ``argv`` is
    the client's parsed options.  Returns (exit code, stdout, stderr)."""
    from ..server.server import captured

    if name not in COMMANDS:
        return USAGE, "", f"mentiondesk: unknown command {name!r}\n"
    args = argparse.Namespace(**argv)
    args.command = name
    return captured(lambda: act(COMMANDS[name][0], desk, args))
