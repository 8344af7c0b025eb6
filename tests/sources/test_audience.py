"""Audience: a reply is never more visible than the post it answers, and the desk shows who
could see each message.  The real Desk and Runner against the fake Mastodon on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon

from tui.core.model import Mention
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner
from widgets.conversation import history_content

TOKEN = "test-token-s3cret"
REPLY = "Sorry about that. We're looking into it now and will update you here."


def run_once(desk, source, deliver: bool) -> None:
    asyncio.run(Runner(desk, [source], deliver=deliver).run(once=True))


def posted_visibility(fake: FakeMastodon) -> dict[str, str]:
    """in_reply_to_id -> the visibility we posted with."""
    return {s["form"].get("in_reply_to_id"): s["form"]["visibility"]
            for s in fake.statuses.values()}


def answer_everyone(fake: FakeMastodon, visibility: str) -> tuple[dict[str, str], object]:
    fake.publish(fake.notification(1, visibility="private", account="fol"),
                 fake.notification(2, visibility="unlisted", account="unl"),
                 fake.notification(3, visibility="public", account="pub"))
    desk = new_desk(clock=Clock(datetime.now(UTC)), undo_seconds=0)
    run_once(desk, MastodonSource(fake.url, token=TOKEN, stream=False), deliver=False)
    assert len(desk.mentions) == 3
    for conv in list(desk.conversations.values()):
        desk.reply(conv.id, REPLY)
    run_once(desk, MastodonSource(fake.url, token=TOKEN, stream=False,
                                  visibility=visibility), deliver=True)
    return posted_visibility(fake), desk


def test_replies_are_never_wider_than_the_post_they_answer():
    from fakes.mastodon import sid

    with FakeMastodon() as fake:
        posted, desk = answer_everyone(fake, "public")
        assert posted == {sid(1): "private", sid(2): "unlisted", sid(3): "public"}
        # The desk knows and shows who could see each message.
        seen = {m.author.handle: m.visibility for m in desk.mentions.values()}
        assert seen == {"fol": "followers", "unl": "unlisted", "pub": "public"}
        for conv in desk.conversations.values():
            text = history_content(desk, conv, desk.clock(), UTC).plain
            label = {"fol": "followers-only", "unl": "unlisted", "pub": "pub"}[conv.handle]
            assert f"{label} @{conv.handle}" in text


def test_the_configured_visibility_still_narrows_public_answers():
    from fakes.mastodon import sid

    with FakeMastodon() as fake:
        posted, _ = answer_everyone(fake, "unlisted")
        assert posted == {sid(1): "private", sid(2): "unlisted", sid(3): "unlisted"}


def test_the_audience_survives_a_restart_and_the_interchange_format():
    m = Mention.from_dict({"id": "1", "text": "hi", "author": "ana", "created_at": 0,
                           "visibility": "private"}, source="x")
    assert m.visibility == "followers" and m.channel == "public"
    again = Mention.restore(m.to_dict())
    assert again.visibility == "followers"
    dm = Mention.from_dict({"id": "2", "text": "hi", "author": "ana", "created_at": 0,
                            "audience": "direct"}, source="x")
    assert dm.channel == "direct"
