"""Notification types: quotes of our posts are read (with the quoted text), filtered
notifications are asked for, and `check` says what each source reads.  Fake Mastodon on
127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from pathlib import Path

from fakes.mastodon import FakeMastodon, sid

from tui.sources.mastodon import MastodonSource

TOKEN = "test-token-s3cret"
ROOT = Path(__file__).resolve().parents[2]


def quote_of_our_post(fake: FakeMastodon, n: int) -> dict:
    note = fake.notification(n, account="qq", kind="quote",
                             text="this is the third time this week")
    note["status"]["content"] = ('<p>this is the third time this week</p>'
                                 '<p class="quote-inline">RE: <a href="https://x/1">x/1</a></p>')
    ours = copy.deepcopy(note["status"])
    ours["account"] = {**ours["account"], "acct": "northline"}
    ours["content"] = "<p>The 08:02 is running 20 minutes late.</p>"
    note["status"]["quote"] = {"state": "accepted", "quoted_status": ours}
    return note


def test_quotes_are_read_with_the_quoted_text_and_filtered_ones_asked_for():
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy"), quote_of_our_post(fake, 2),
                     fake.notification(3, account="fav", kind="favourite"))
        source = MastodonSource(fake.url, token=TOKEN, stream=False)
        got: list = []
        asyncio.run(source.poll(got.extend))
        asyncio.run(source.aclose())
        assert sorted(m.id for m in got) == [sid(1), sid(2)]  # not the favourite
        quote = next(m for m in got if m.id == sid(2))
        assert quote.text == ("this is the third time this week\n"
                              "[quoting @northline: The 08:02 is running 20 minutes late.]")
        first = next(r for r in fake.requests if r.path == "/api/v1/notifications")
        assert set(first.query["types[]"]) == {"mention", "quote"}
        assert first.arg("include_filtered") == "true"


def test_check_says_what_each_source_reads(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("sources:\n"
                      "  - spec: mastodon:https://mastodon.example\n"
                      "    notification_types: [mention]\n"
                      "    include_filtered: false\n"
                      "  - spec: bluesky:northline.example\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tui", "check", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ("mastodon:https://mastodon.example: reads notifications mention (not quote); "
            "filtered notifications NOT read") in done.stdout
    assert "bluesky:northline.example: reads mentions, replies and quotes; chat DMs" in done.stdout
