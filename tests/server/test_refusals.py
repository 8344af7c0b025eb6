"""The desk's typed refusals survive the trip through the desk process: a client raises the
same exception, with the same data, that the desk raised (``refusals`` → the wire →
``as_desk_error``)."""

from __future__ import annotations

import json

import pytest

from tui.core.api import AlreadyAnswered, Outgrown
from tui.server.protocol import Refused
from tui.server.remote import as_desk_error
from tui.server.server import refusals


def over_the_wire(exc: Exception) -> Exception:
    with pytest.raises(Refused) as caught, refusals():
        raise exc
    wire = json.loads(json.dumps(caught.value.to_dict()))
    return as_desk_error(Refused.from_dict(wire))


def test_the_stale_check_arrives_with_what_changed_and_its_question() -> None:
    sent = Outgrown(1, ["lee resolved it", "kim handed it to refunds"])
    got = over_the_wire(sent)
    assert isinstance(got, Outgrown)
    assert (got.count, got.changes) == (1, ["lee resolved it", "kim handed it to refunds"])
    assert got.question == sent.question
    assert str(got) == str(sent)


def test_another_agents_answer_stays_a_refusal_without_send_anyway() -> None:
    got = over_the_wire(AlreadyAnswered("kim", "replied", "reply"))
    assert isinstance(got, AlreadyAnswered) and not isinstance(got, Outgrown)
    assert got.by == "kim"
    assert "kim replied since you opened this conversation" in str(got)
