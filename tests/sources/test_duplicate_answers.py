"""Duplicate answers: a second answer to a conversation whose first one is still in the outbox
or was just sent is refused with a typed question (the console and the CLI confirm); a customer
writing again makes a new answer normal.  The fake Mastodon on 127.0.0.1, Desk and Runner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from conftest import Clock, new_desk
from fakes.mastodon import FakeMastodon

from tui.core.desk import AlreadyAnswering
from tui.sources.mastodon import MastodonSource
from tui.sources.runner import Runner

TOKEN = "test-token-s3cret"
REPLY = "Sorry about that. We're looking into it now."


def run_once(desk, fake, deliver: bool) -> None:
    source = MastodonSource(fake.url, token=TOKEN, stream=False)
    asyncio.run(Runner(desk, [source], deliver=deliver).run(once=True))


def test_a_second_answer_asks_first_until_the_customer_writes_again():
    with FakeMastodon() as fake:
        fake.publish(fake.notification(1, account="amy", text="my train is late, refund?"))
        clock = Clock(datetime.now(UTC))
        desk = new_desk(clock=clock, undo_seconds=0)
        run_once(desk, fake, deliver=False)
        (conv,) = desk.conversations.values()
        desk.reply(conv.id, REPLY)
        with pytest.raises(AlreadyAnswering, match="waiting in the outbox"):
            desk.reply(conv.id, REPLY)
        with pytest.raises(AlreadyAnswering):
            desk.take_offline(conv.id, "We've sent you a DM", "Hi, your booking reference?")
        run_once(desk, fake, deliver=True)
        assert len(fake.statuses) == 1
        with pytest.raises(AlreadyAnswering, match="was sent at"):
            desk.reply(conv.id, REPLY)
        assert len(desk.outbox.items) == 1  # nothing was queued by the refusals

        desk.reply(conv.id, "One more thing: the refund form is at the link.", again=True)
        assert len(desk.outbox.items) == 2  # the agent confirmed

        fake.publish(fake.notification(2, account="amy", text="thanks, and the form?"))
        run_once(desk, fake, deliver=True)
        # The customer wrote again: a new answer goes without a question; the very same words
        # as before still ask (a canned reply sent twice reads as a bot).
        with pytest.raises(AlreadyAnswering, match="same words"):
            desk.reply(conv.id, REPLY)
        desk.reply(conv.id, "The form is at https://help.example/refund-form")
