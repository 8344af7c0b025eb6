"""Personal-data finder (tui/core/pii.py): what it must find, and what it must leave alone."""

import pytest

from tui.core.pii import PersonalDataFinder, find_personal_data, kinds_in


def found(text: str, finder: PersonalDataFinder | None = None) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in find_personal_data(text, finder)]


@pytest.mark.parametrize("text, expected", [
    ("my card is 4111 1111 1111 1111 please refund", ("card", "4111 1111 1111 1111")),
    ("card 4111-1111-1111-1111 was charged", ("card", "4111-1111-1111-1111")),
    ("5500005555555559", ("card", "5500005555555559")),
    ("amex 3782 822463 10005", ("card", "3782 822463 10005")),
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", ("iban", "GB82 WEST 1234 5698 7654 32")),
    ("pay DE89370400440532013000.", ("iban", "DE89370400440532013000")),
    ("sort code 12-34-56", ("account", "12-34-56")),
    ("my account number is 31926819", ("account", "31926819")),
    ("acc no. 12345678", ("account", "12345678")),
    ("20-00-00 55779911 is mine", ("account", "20-00-00 55779911")),
    ("email me at jo.bloggs+rail@example.com.", ("email", "jo.bloggs+rail@example.com")),
    ("call 07700 900123 please", ("phone", "07700 900123")),
    ("ring 07700900123", ("phone", "07700900123")),
    ("+44 20 7946 0958", ("phone", "+44 20 7946 0958")),
    ("+44 (0)20 7946 0958", ("phone", "+44 (0)20 7946 0958")),
    ("office (020) 7946 0958", ("phone", "(020) 7946 0958")),
    ("US: (555) 123-4567", ("phone", "(555) 123-4567")),
    ("US: 555.123.4567", ("phone", "555.123.4567")),
    ("0044 161 496 0000", ("phone", "0044 161 496 0000")),
    ("I live at 221B Baker Street", ("address", "221B Baker Street")),
    ("send it to 14 Station Road.", ("address", "14 Station Road.")),
    ("postcode NW1 6XE", ("address", "NW1 6XE")),
    ("postcode sw1a1aa", ("address", "sw1a1aa")),
    ("Springfield, IL 62704", ("address", "IL 62704")),
    ("booking ref ABC123", ("booking", "ABC123")),
    ("PNR: 4KQ2ZT", ("booking", "4KQ2ZT")),
    ("reference #X7Y8Z9W", ("booking", "X7Y8Z9W")),
    ("it's NL-123456", ("booking", "NL-123456")),
])
def test_finds(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize("text", [
    "The 17:45 from Leeds was 20 minutes late",
    "on 12/05/2024 and 2024-05-12 and 12.05.2024 and 12-05-24",
    "tickets cost £12.50, $1,234.00 or €9,99",
    "train 1A23 and 2K45 from platform 3, bus 42",
    "delays of 120 minutes on the 14.30 service, 12345 passengers",
    "M25 3PM jam again",
    "we waited 20 minutes on the way",
    "order 20240512 at 2024-05-12T08:15",
    "cc @alice@mastodon.example and @northline",
    "order 4111 1111 1111 1 is thirteen digits that fail the Luhn check",
    "IBAN GB82 WEST 1234 5698 7654 33 fails mod 97",
    "booking REFUND please",
    "my booking was for 2 people",
    "1234567890123",  # 13 digits failing Luhn
    "I'm on the 0715 to London, coach 4 seat 62",
    "",
])
def test_leaves_alone(text):
    assert found(text) == []


def test_several_kinds_in_order_without_overlaps():
    text = ("booking ref ABC123, card 4111 1111 1111 1111, call 07700 900123 "
            "or a@b.example, 10 Downing Street SW1A 2AA")
    assert [k for k, _ in found(text)] == ["booking", "card", "phone", "email", "address",
                                           "address"]
    assert kinds_in(text) == ["booking", "card", "phone", "email", "address"]


def test_an_iban_is_not_also_reported_as_account_or_phone():
    assert found("GB82WEST12345698765432") == [("iban", "GB82WEST12345698765432")]


def test_configurable_booking_pattern():
    finder = PersonalDataFinder(r"\bTKT(\d{8})\b")
    assert found("ticket TKT12345678 please", finder) == [("booking", "12345678")]
    # the default NL- form no longer applies with a custom pattern
    assert found("NL-123456", finder) == []


def test_labels():
    (finding,) = find_personal_data("4111 1111 1111 1111")
    assert finding.label == "card number"
