"""The built-in demo stream: realistic mentions for Northline, a fictional rail and bus operator.

Everything here is invented (people, stations, numbers; domains are ``.example``) but written the
way a care team sees it: typos, emoji, anger and kindness, French/Spanish/German/Welsh, personal
data that must go offline (Luhn-valid card numbers, booking refs, emails, phones, addresses),
influencers and verified accounts, repeat customers chasing an answer, threads and DMs.

``generate(n, seed)`` is deterministic (no wall clock unless a ``start`` is given as "now") and is
what tests, benchmarks and ``bench/make_history.py`` use.  ``DemoSource.run`` emits the same
sequence live at ``rate`` mentions per second; ``deliver`` "posts" locally and, for some customers,
makes them answer a few seconds later so that conversations continue and close.

Each generated mention carries the category it was written for (``intended``), so a test can check
that the shipped rules agree with a human reading of the text.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.model import DIRECT, PUBLIC, Author, Mention, utcnow
from ..core.text import clean_name, clean_text
from .base import CATCHING_UP, LIVE, STOPPED, Emit, Source

SOURCE = "demo"
# A Monday morning rush: the fixed origin of generated timelines when no start is given.
EPOCH = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)

CATEGORIES = (
    "safety", "accessibility", "staff_complaint", "service_disruption", "refund", "lost_property",
    "card_account", "booking", "abuse", "spam", "direct_message", "praise", "opinion", "general",
)

# How often each category turns up on an ordinary day (relative weights).
_WEIGHTS = {
    "general": 13, "service_disruption": 20, "refund": 8, "booking": 8, "card_account": 6,
    "lost_property": 5, "staff_complaint": 5, "accessibility": 4, "safety": 3, "abuse": 3,
    "spam": 4, "direct_message": 8, "praise": 8, "opinion": 5,
}
# A brand emergency (the network is down): mostly angry disruption, some safety.
_BURST_WEIGHTS = {
    "service_disruption": 70, "safety": 10, "accessibility": 3, "refund": 4, "abuse": 4,
    "general": 4, "direct_message": 2, "staff_complaint": 2, "opinion": 1,
}

# Templates: "lang|text" (no prefix = English).  Placeholders are filled by _Filler.
_TEMPLATES: dict[str, list[str]] = {
    "safety": [
        "@northline there's smoke coming from under the carriage on the {time} at {station}, "
        "people are scared. is anyone coming??",
        "@northline someone has collapsed on platform {platform} at {station} and there's no staff "
        "around. please send help",
        "@northline a man is being aggressive and threatening passengers in coach C of the {time} "
        "to {station2}. we feel unsafe",
        "@northline the platform edge at {station} is cracked and a little boy nearly fell between "
        "the train and the platform. not safe",
        "@northline barriers up at the {station} level crossing with the lights flashing and cars "
        "driving across. not safe, someone is going to get killed",
        "@northline loose cable hanging over platform {platform} at {station}, it's sparking and "
        "there's smoke. dangerous!!",
        "@northline fight broke out on the {bus} bus, nobody stepped in. felt really unsafe with "
        "my kids 😢",
        "@northline a woman has collapsed on the {time}, train is packed and it's boiling. "
        "please get someone to {station2}",
        "fr|@northline il y a de la fumée dans le train de {time} à {station}, c'est dangereux !",
        "es|@northline hay un hombre agrediendo a pasajeros en el tren de las {time}, ¡es "
        "peligroso!",
    ],
    "accessibility": [
        "@northline the lift at {station} has been out of order for 3 days. I use a wheelchair "
        "and can't get to platform {platform}",
        "@northline booked passenger assistance for the {time} and nobody turned up with the ramp. "
        "stuck on the train at {station}",
        "@northline bus on the {bus} refused to lower the ramp for my wheelchair. again.",
        "@northline are the audio announcements ever going to work on the {route}? I'm blind and "
        "had no idea where we were",
        "@northline me and my guide dog were told to wait for the next bus. is that allowed??",
        "@northline is there step-free access at {station}? travelling with my mum who uses a "
        "mobility scooter",
        "@northline hearing loop at the {station} ticket office doesn't work, I'm deaf and "
        "couldn't understand a thing",
        "cy|@northline mae'r lifft yn {station} wedi torri eto, dw i mewn cadair olwyn 😞",
    ],
    "staff_complaint": [
        "@northline the conductor on the {time} from {station} was unbelievably rude to an "
        "elderly lady, shouting at her in front of everyone",
        "@northline your staff at the {station} ticket office are so rude. rolled her eyes and "
        "walked off mid sentence",
        "@northline driver on the {bus} pulled away while I was literally at the door waving. "
        "rude and 3rd time this month",
        "@northline the guard was on his phone the whole journey and refused to help a passenger "
        "who asked him. unprofessional",
        "@northline I want to make a complaint. a member of staff shouted at my son at {station} "
        "this morning. totally unprofessional",
        "@northline ticket inspector on the {route} was really rude and aggressive about a "
        "railcard that was perfectly valid",
        "de|@northline der Schaffner im Zug um {time} war extrem unhöflich zu mir. Wo kann ich "
        "mich beschweren?",
    ],
    "service_disruption": [
        "@northline {time} to {station2} cancelled AGAIN. third time this week. what is going on??",
        "@northline stuck on the train outside {station} for {mins} mins now, no announcement, "
        "no nothing 🙄",
        "@northline is the {route} running? board at {station} just says delayed",
        "@northline any update on the signal failure at {station}? need to get to work",
        "@northline why is the {bus} not turning up? been stood at the stop {mins} minutes in the "
        "rain",
        "@northline train terminated at {station} with no explanation and no replacement bus. "
        "now stuck",
        "@northline delays again on the {route}. every single day. I'm going to lose my job over "
        "this",
        "@northline is there a strike on friday? heard rumours at {station}",
        "@northline {time} from {station} showing {mins} min delay, will I make my connection at "
        "{station2}?",
        "@northline the {time} was cancelled and the next one is full and standing. shambles",
        "@northline why are there only 2 carriages on the {time}?? delayed AND rammed",
        "fr|@northline encore un train supprimé à {station}, {mins} min de retard, c'est "
        "inadmissible 😤",
        "es|@northline el tren de las {time} lleva {mins} minutos de retraso, ¿qué pasa?",
        "de|@northline Zug nach {station2} fällt schon wieder aus. Verspätung über {mins} "
        "Minuten!!",
        "cy|@northline mae'r trên {time} wedi ei ganslo eto 😡",
    ],
    "refund": [
        "@northline how do I claim a refund for my ticket? the form keeps erroring",
        "@northline still no refund for the claim I made 3 weeks ago. £{amount} isn't nothing",
        "@northline I want my money back for a ticket I couldn't use. who do I speak to about a "
        "refund?",
        "@northline applied for compensation on the 4th, heard nothing. how long do refunds take?",
        "@northline paid for first class, sat in standard all the way. I'd like a refund of the "
        "difference please",
        "@northline can I get a refund on an advance ticket if I'm ill? my email is {email}",
        "fr|@northline comment obtenir un remboursement pour mon billet ?",
        "es|@northline ¿cómo pido el reembolso de mi billete? gracias",
    ],
    "lost_property": [
        "@northline I left my {item} on the {time} from {station} to {station2}, coach B. has "
        "anyone handed it in?",
        "@northline lost my {colour} backpack on the {bus} bus this morning, laptop inside 😭 "
        "please help",
        "@northline left my son's teddy on the train at {station}. he's devastated. grey rabbit, "
        "one ear missing",
        "@northline does {station} have a lost property office? dropped my {item} somewhere "
        "between there and {station2}",
        "@northline left my {colour} umbrella on the {time}, sentimental value. call me on {phone} "
        "if it turns up",
        "fr|@northline j'ai oublié mon sac dans le train de {time}, il y a un service des objets "
        "trouvés ?",
        "es|@northline perdí mi cartera en el autobús {bus}, ¿alguien la ha encontrado?",
        "de|@northline habe meinen Regenschirm im Zug vergessen, gibt es ein Fundbüro in "
        "{station}?",
    ],
    "card_account": [
        "@northline my Northline smartcard stopped working at the gates at {station}, topped it "
        "up yesterday",
        "@northline can't log in to my account, password reset email never arrives",
        "@northline you charged my card twice for the same journey, card ending {last4}. sort it "
        "out",
        "@northline the app keeps logging me out and now my account says it's locked??",
        "@northline my smartcard balance vanished after the app update. had £{amount} on there",
        "@northline how do I change the email on my account? the old one was {email}",
        "@northline here's my card number {card} can you see why the payment keeps failing",
        "@northline payment declined on the app but the money has gone from my account. card "
        "{card}",
    ],
    "booking": [
        "@northline can I change my booking to the {time} tomorrow? booking ref {ref}",
        "@northline trying to book tickets for 4 of us to {station2} on saturday and the site "
        "crashes at the last step",
        "@northline is it possible to reserve a seat on the {route}? can't see the option anywhere",
        "@northline I booked the wrong date by mistake, can I amend my booking?",
        "@northline my booking confirmation never came through, did the reservation work? email "
        "is {email}",
        "@northline need to move my booking {ref} to next week, what's the fee?",
        "fr|@northline je voudrais modifier ma réservation pour demain, c'est possible ?",
        "cy|@northline alla i newid fy archeb i'r trên {time}?",
    ],
    "abuse": [
        "@northline you are the most useless bunch of idiots I've ever had the misfortune to deal "
        "with",
        "@northline absolute scum, the lot of you. every. single. day.",
        "@northline whoever runs this page is a moron",
        "@northline stfu with your excuses 🖕",
        "@northline you lot are pathetic idiots, do your jobs",
    ],
    "spam": [
        "@northline 🚀 Earn £500 a day from home!! DM me for details 💰💰 https://crypto.example/xyz",
        "@northline follow back? I follow back 100% 🔁 #followforfollow",
        "@northline Congratulations! You've won our iPhone giveaway 🎉 click here: "
        "https://prize.example/claim",
        "@northline Buy cheap followers & likes, make money from your page ➡️ https://grow.example",
        "@northline check my profile for an exclusive crypto giveaway 🎁🎁",
    ],
    "direct_message": [
        "Hi, messaging you here as your colleague suggested. I'm {name}, phone {phone}",
        "Hello! Following up by DM as asked. My address is {address} if you need to post anything",
        "hi there, it's {first} from earlier. my email is {email}",
        "Hiya, is this the right place to message you privately? {first}",
        "Hello, sending this privately as asked: {name}, {address}",
        "hi, got your message. best number to reach me is {phone} after 5pm",
    ],
    "praise": [
        "@northline shout out to Dave on the {time} from {station}, so kind to my nan 💛",
        "@northline thank you for getting me home last night, the team at {station} were brilliant",
        "@northline honestly the new trains on the {route} are lovely. quiet, clean, plugs that "
        "work 👏",
        "@northline great service this week, on time every single day! keep it up",
        "@northline thanks for sorting my issue so quickly yesterday 🙌",
        "fr|@northline merci beaucoup à l'équipe de {station}, super sympa !",
        "es|@northline ¡gracias por la ayuda de hoy! excelente servicio",
        "cy|@northline diolch yn fawr am yr help heddiw 😊",
    ],
    "opinion": [
        "@northline why did you get rid of the quiet coach on the {route}? worst decision ever imo",
        "@northline hot take: the new livery looks like a hospital corridor",
        "@northline you should bring back the old timetable, the new one makes no sense for "
        "commuters",
        "@northline anyone else think the fares on this line are ridiculous for what you get?",
        "@northline I reckon you should put more bike spaces on the {route}, just a thought",
        "@northline the seating on the new trains is so uncomfortable imo. who signed that off",
    ],
    "general": [
        "@northline what time is the first train from {station} on sunday?",
        "@northline is there wifi on the {bus} buses?",
        "@northline can I take my bike on the train at peak times?",
        "@northline do dogs travel free?",
        "@northline are the toilets open at {station} after 8pm?",
        "@northline quick q - is the car park at {station} pay and display?",
        "@northline which platform does the {route} go from at {station}?",
        "@northline hi, do you have a map of the bus routes around {station2}?",
        "fr|@northline est-ce qu'il y a du wifi dans le train ?",
        "de|@northline darf ich mein Fahrrad im Bus mitnehmen?",
    ],
}

# Burst-only texts: the network is down.
_BURST_TEMPLATES: dict[str, list[str]] = {
    "service_disruption": [
        "@northline EVERYTHING cancelled at {station} and not a single announcement. hundreds of "
        "us stuck 😡😡",
        "@northline is the whole network down?? no trains anywhere, no info",
        "@northline {time} cancelled, {time2} cancelled, buses not turning up. what is happening",
        "@northline been stuck on the train outside {station} for {mins} mins, no power, no "
        "update 😡",
        "@northline no trains from {station} at ALL? how am I supposed to get home",
        "@northline departure board at {station} just says CANCELLED all the way down. joke",
    ],
    "safety": [
        "@northline people are getting off the stuck train and walking on the tracks near "
        "{station}, this is dangerous",
        "@northline platform at {station} is massively overcrowded, people being pushed near the "
        "edge. someone will get hurt",
        "@northline stuck in a tunnel for {mins} mins, no air con, a lady has collapsed. emergency",
    ],
}

# A repeat customer chasing an answer (same category as what they first wrote about).
_FOLLOW_UPS: dict[str, list[str]] = {
    "service_disruption": [
        "@northline still no update on the {route}?? still delayed, asked an hour ago",
        "@northline hello?? still stuck and still delayed, any news",
    ],
    "refund": [
        "@northline still waiting for an answer about my refund... 2nd time asking",
        "@northline any news on my refund? nobody has got back to me",
    ],
    "lost_property": [
        "@northline I lost my {item} on the {time} yesterday, any news? nobody has got back to me",
    ],
    "card_account": ["@northline still locked out of my account, any update??"],
    "booking": ["@northline hello?? still need to change my booking, it's tomorrow"],
    "accessibility": [
        "@northline still no reply about the broken lift at {station}. I still can't use the "
        "station in my wheelchair",
    ],
    "staff_complaint": [
        "@northline no response to my complaint about the rude conductor. not surprised",
    ],
    "safety": ["@northline is anyone dealing with the smoke on the train?? it's still there"],
    "general": ["@northline hello? anyone there? asked a simple question this morning"],
    "direct_message": ["Hi again, did you get my message? {first}"],
}
# Someone else piling onto a disruption thread.
_PILE_ON = [
    "@northline same here, {route} cancelled too",
    "@northline +1, stuck at {station} as well. delayed {mins} mins and counting",
    "@northline same, nothing running from {station2} either. everything cancelled",
]

# How a customer answers the desk's reply (see DemoSource.deliver): (text, channel, intent).
_ANSWERS = {
    "thanks": ("@northline thanks, that worked! 🙏", PUBLIC, "praise"),
    "sent_dm": ("Hi, I've sent the DM as asked. it's {name}, {phone}", DIRECT, "direct_message"),
    "not_sorted": ("@northline still not sorted, I've done what you said and nothing has "
                   "changed", PUBLIC, "general"),
}

_STATIONS = [
    "Harrowgate Central", "Millbrook", "Kestrel Road", "Ashby Junction", "Port Elwyn",
    "Castell Mawr", "Bramley Park", "Fenwick", "St Aldhelm", "Riverside Interchange",
    "Thornby Parkway", "Llanfair Halt", "Westmoor", "Quayside",
]
_ROUTES = ["Coastway line", "Valley line", "Harrowgate loop", "Port Elwyn branch", "Moor line"]
_BUSES = ["X12", "44", "7A", "N3", "210", "X90"]
_ITEMS = ["laptop", "wallet", "purse", "phone", "headphones", "coat", "scarf", "kindle",
          "violin", "suitcase", "glasses"]
_COLOURS = ["black", "navy", "red", "green", "grey", "yellow", "purple"]
_STREETS = ["Larch Avenue", "Station Road", "Mill Lane", "Chapel Street", "Orchard Close",
            "Heol y Bryn", "Victoria Terrace", "Kingsway"]
_TOWNS = [("Millbrook", "MB"), ("Harrowgate", "HG"), ("Port Elwyn", "PE"), ("Fenwick", "FN")]

_FIRST = [
    "Siân", "José", "Zoë", "Małgorzata", "François", "Jürgen", "Aoife", "Priya", "Tom", "Helen",
    "Mehmet", "Chloé", "Rhys", "Fatima", "Callum", "Ngozi", "Liam", "Ana", "Bartek", "Olu",
    "Grace", "Dafydd", "Mei", "Kwame", "Ellie", "Raj", "Sophie", "Connor", "Léa", "Ines",
    "Gareth", "Hannah", "Yusuf", "Niamh", "Kasia", "Ben", "Aisha", "Owen", "Carys", "Marta",
]
_LAST = [
    "Llewelyn", "Álvarez", "Hart", "Nowak", "Lemaire", "Weiß", "Ní Bhriain", "Raman", "Okafor",
    "Marsh", "Yılmaz", "Dubois", "ap Gwilym", "Hussain", "McLeod", "Adeyemi", "Byrne", "Costa",
    "Kowalski", "Bello", "Thompson", "Pritchard", "Chen", "Mensah", "Walsh", "Patel", "Green",
    "Murphy", "Moreau", "García",
]
_NAME_DECORATIONS = ["", "", "", "", " 🌻", " 🚲", " ⚽", " 🏳️‍🌈", " ✨", " 🐶"]

# Accounts with reach: what they write matters more.
_INFLUENCERS = [
    Author("travelwithtash", "Travel With Tash ✈️", 48200, True),
    Author("railnerdrob", "Rail Nerd Rob 🚆", 23100, False),
    Author("harrowgategazette", "Harrowgate Gazette", 61700, True),
    Author("cllr_ffion_rees", "Cllr Ffion Rees", 12400, True),
]
_OTHER_LANGUAGE_SHARE = 0.1


@dataclass(slots=True)
class _Open:
    """A conversation a customer may come back to."""

    author: Author
    category: str
    last_id: str
    thread: str
    channel: str
    values: dict  # the stations, route, item... they wrote about: a follow-up names the same


class _Filler(dict):
    """Placeholder values, drawn on first use so each template only spends what it needs."""

    def __init__(self, rng: random.Random, author: Author, values: dict | None = None) -> None:
        super().__init__(values or {})
        self.rng = rng
        self.author = author

    def __missing__(self, key: str) -> str:
        value = self._make(key)
        self[key] = value
        return value

    def _make(self, key: str) -> str:
        r = self.rng
        if key == "station":
            return r.choice(_STATIONS)
        if key == "station2":
            return r.choice([s for s in _STATIONS if s != self["station"]])
        if key in ("time", "time2"):
            return f"{r.randint(5, 22):02d}:{r.choice(range(2, 60, 5)):02d}"
        if key == "platform":
            return str(r.randint(1, 6))
        if key == "route":
            return r.choice(_ROUTES)
        if key == "bus":
            return r.choice(_BUSES)
        if key == "mins":
            return str(r.choice([15, 20, 25, 35, 40, 50, 65, 90]))
        if key == "amount":
            return f"{r.randint(8, 240)}.{r.choice(['00', '50', '40', '95'])}"
        if key == "item":
            return r.choice(_ITEMS)
        if key == "colour":
            return r.choice(_COLOURS)
        if key == "card":
            return _card_number(r)
        if key == "last4":
            return f"{r.randint(0, 9999):04d}"
        if key == "ref":
            return f"NL-{r.randint(100000, 999999)}"
        if key == "email":
            first = _ascii(self.author.name.split(" ")[0] or self.author.handle).lower()
            return f"{first}.{r.randint(10, 99)}@mail.example"
        if key == "phone":
            return r.choice(["07700 900{:03d}", "+44 7700 900{:03d}"]).format(r.randint(0, 999))
        if key == "address":
            town, area = r.choice(_TOWNS)
            letters = "ABDEFGHJLNPQRSTUWXYZ"  # the letters UK postcodes use in the inward code
            inward = f"{r.randint(1, 9)}{r.choice(letters)}{r.choice(letters)}"
            street = f"{r.randint(2, 180)} {r.choice(_STREETS)}"
            return f"{street}, {town} {area}{r.randint(1, 9)} {inward}"
        if key == "name":  # as they would sign: without the emoji of their display name
            words = [w for w in self.author.name.split(" ") if w[:1].isalpha()]
            return " ".join(words) or self.author.handle
        if key == "first":
            return self["name"].split(" ")[0]
        raise KeyError(key)


def _pick_template(rng: random.Random, pool: list[str]) -> str:
    """Mostly English (a UK operator), about one in ten in another language."""
    other = [t for t in pool if t[2:3] == "|"]
    english = [t for t in pool if t[2:3] != "|"]
    if other and rng.random() < _OTHER_LANGUAGE_SHARE:
        return rng.choice(other)
    return rng.choice(english or other)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()) or "customer"


def _card_number(rng: random.Random) -> str:
    """A 16-digit Visa-like number that passes the Luhn check (as a real one would)."""
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit to the right
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def luhn_ok(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn check."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return bool(digits) and total % 10 == 0


class DemoStream:
    """The deterministic generator behind ``generate`` and ``DemoSource``.

    ``next(at)`` returns the next mention stamped ``at``; the content sequence depends only on the
    seed and the burst flag, never on the times given.
    """

    def __init__(self, seed: int = 7, burst: bool = False) -> None:
        self.rng = random.Random(seed)
        self.burst = burst
        self.count = 0
        self.id_prefix = "demo"  # "demo-r2" on the second run on a data directory
        self.intended: dict[str, str] = {}
        self.threads: dict[str, str] = {}  # mention id -> thread root, for mentions in a thread
        self._open: list[_Open] = []
        self._recent_disruption: list[_Open] = []
        self._customers = self._make_customers(random.Random(seed * 7919 + 1), 3000)
        weights = _BURST_WEIGHTS if burst else _WEIGHTS
        self._categories = list(weights)
        self._weights = [weights[c] for c in self._categories]

    @staticmethod
    def _make_customers(rng: random.Random, n: int) -> list[Author]:
        people: list[Author] = []
        seen: set[str] = set()
        while len(people) < n:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            style = rng.randrange(5)
            base_first, base_last = _ascii(first).lower(), _ascii(last).lower()
            handle = [f"{base_first}{base_last}", f"{base_first}_{base_last[:4]}",
                      f"{base_first}{rng.randint(1, 99)}", f"{base_last}.{base_first[0]}",
                      f"the_{base_first}"][style]
            if handle in seen:
                continue
            seen.add(handle)
            # Most people have a few hundred followers; a long tail has thousands.
            followers = int(rng.lognormvariate(5.0, 1.3))
            name = f"{first} {last}{rng.choice(_NAME_DECORATIONS)}"
            if rng.random() < 0.1:
                name = first + rng.choice(_NAME_DECORATIONS)  # people who give a first name only
            people.append(Author(handle, name, followers, rng.random() < 0.01))
        return people

    def author(self, handle: str) -> Author | None:
        for a in self._customers + _INFLUENCERS:
            if a.handle == handle:
                return a
        return None

    def _pick_author(self, local: bool = False) -> Author:
        r = self.rng.random()
        if r < 0.04 and not local:  # the influencers write in English
            return self.rng.choice(_INFLUENCERS)
        # A small pool of regulars writes more than its share.
        if r < 0.12:
            return self.rng.choice(self._customers[:60])
        return self.rng.choice(self._customers)

    def skip(self, n: int, at: datetime) -> None:
        """Move the script on by ``n`` mentions without sending them (a restart going on where
        the last run stopped): the same customers, threads and follow-ups as if they had been
        sent."""
        for _ in range(n - self.count):
            self.next(at)
        self.intended.clear()

    def next(self, at: datetime) -> Mention:
        rng = self.rng
        self.count += 1
        mid = f"{self.id_prefix}-{self.count}"
        roll = rng.random()
        in_reply_to = thread = None
        values: dict = {}
        if self._open and roll < 0.10:
            # A repeat customer chasing an earlier conversation, about the same train or item.
            conv = self._open.pop(rng.randrange(len(self._open)))
            author, category, channel = conv.author, conv.category, conv.channel
            template = rng.choice(_FOLLOW_UPS[category])
            values = dict(conv.values)
            if channel == PUBLIC:
                in_reply_to, thread = conv.last_id, conv.thread
        elif self._recent_disruption and roll < 0.14:
            # Someone else piles onto a disruption thread.
            conv = rng.choice(self._recent_disruption)
            author, category, channel = self._pick_author(), "service_disruption", PUBLIC
            template = rng.choice(_PILE_ON)
            values = {k: v for k, v in conv.values.items() if k in ("station", "route")}
            in_reply_to, thread = conv.last_id, conv.thread
        else:
            category = rng.choices(self._categories, self._weights)[0]
            pool = _TEMPLATES[category]
            if self.burst and category in _BURST_TEMPLATES and rng.random() < 0.7:
                pool = _BURST_TEMPLATES[category]
            template = _pick_template(rng, pool)
            channel = DIRECT if category == "direct_message" else PUBLIC
            author = self._pick_author(local=template[2:3] == "|")
        language, text = (template[:2], template[3:]) if template[2:3] == "|" else ("", template)
        filler = _Filler(rng, author, values)
        text = text.format_map(filler)
        if self.burst and category == "service_disruption" and rng.random() < 0.3:
            text += rng.choice([" 😡", " 🤬", "!!!", " absolute joke", " #northlinefail"])
        m = Mention(
            id=mid, source=SOURCE, channel=channel,
            author=Author(clean_name(author.handle), clean_name(author.name), author.followers,
                          author.verified, language or None),
            text=clean_text(text), created_at=at, received_at=at,
            in_reply_to=in_reply_to, thread=thread,
            url=f"https://social.example/@{author.handle}/{self.count}" if channel == PUBLIC
            else None,
            raw_id=mid, language=language or "en",
        )
        self.intended[m.key] = category
        if thread:
            self.threads[mid] = thread
        conv = _Open(author, category, mid, thread or mid, channel, dict(filler))
        # Who may come back: customers with something unresolved.
        if category in _FOLLOW_UPS and rng.random() < 0.3:
            self._open.append(conv)
            del self._open[:-50]
        if category == "service_disruption" and channel == PUBLIC:
            self._recent_disruption.append(conv)
            del self._recent_disruption[:-10]
        return m


def _effective_rate(rate: float, burst: bool) -> float:
    # A brand emergency means hundreds a minute whatever the everyday rate.
    return max(rate, 5.0) if burst else rate


def generate_with_intent(n: int, seed: int = 7, *, rate: float = 0.5, burst: bool = False,
                         start: datetime | None = None) -> list[tuple[Mention, str]]:
    """``n`` mentions with the category each was written for; deterministic for a seed."""
    stream = DemoStream(seed, burst)
    # Gaps come from their own generator so that content does not depend on the rate.
    timing = random.Random(seed ^ 0x5EED)
    rate = _effective_rate(rate, burst)
    at = start or EPOCH
    out: list[tuple[Mention, str]] = []
    for _ in range(n):
        m = stream.next(at)
        out.append((m, stream.intended[m.key]))
        at = at + timedelta(seconds=timing.expovariate(rate))
    return out


def generate(n: int, seed: int = 7, *, rate: float = 0.5, burst: bool = False,
             start: datetime | None = None) -> list[Mention]:
    """``n`` realistic Northline mentions, oldest first, starting at ``start`` (default: a fixed
    Monday 07:30 UTC).  Same seed, same mentions."""
    return [m for m, _ in generate_with_intent(n, seed, rate=rate, burst=burst, start=start)]


# A restart replays the script silently up to where the last run stopped; beyond this many
# mentions (11 hours of the demo at its default 0.5/s) it starts a fresh script instead.
MAX_REPLAYED = 20_000


class DemoSource(Source):
    """A live stream of demo mentions, and a local "network" that answers back.

    ``rate`` is mentions per second (``burst`` raises it to at least 5/s and switches to a brand
    emergency).  ``clock`` stamps live mentions (default: the wall clock); ``start`` instead makes
    the stream a simulated timeline starting there.  ``answer_delay`` is the range of seconds a
    customer takes to answer a delivered reply.
    """

    name = "demo"

    def __init__(self, seed: int = 7, rate: float = 0.5, burst: bool = False,
                 clock: Callable[[], datetime] | None = None, start: datetime | None = None,
                 *, answer_delay: tuple[float, float] = (4.0, 15.0)) -> None:
        super().__init__()
        self.seed = seed
        self.rate = _effective_rate(rate, burst)
        self.burst = burst
        self.clock = clock or utcnow
        self.start = start
        self.answer_delay = answer_delay
        self.stream = DemoStream(seed, burst)
        self._timing = random.Random(seed ^ 0x5EED)
        self._emit: Emit | None = None
        self._pending: list[Mention] = []  # answers due before run() started
        self._sent = 0
        self._answers = 0
        self.run_number = 1
        self._skip_to = 0  # the script's position to go on from (resume)
        self._tasks: set[asyncio.Task] = set()

    @property
    def intended(self) -> dict[str, str]:
        """Mention key → the category its text was written for."""
        return self.stream.intended

    def resume(self, position: dict | None, **kw: Any) -> None:
        """Go on with the script where the last run on this data directory stopped.

        The position stored is ``{"run": R, "sent": N, "prefix": P}``: the stream is replayed
        silently up to mention N (it is deterministic for a seed), so a restart brings the
        next customers, never the same ones again as new conversations; mentions sent after
        the last stored position come again with the same ids, which the desk recognises.
        The customers' answers are numbered per run (``demo-rR-answer-N``).  A position from
        before ``sent`` was stored (``{"run": R}`` only) starts the script again under the
        prefix ``demo-rR`` so its ids never collide with that run's.
        """
        super().resume(position, **kw)
        try:
            last = int(self.position.get("run") or 0)
        except (TypeError, ValueError):
            last = 0
        self.run_number = last + 1
        sent = self.position.get("sent")
        prefix = self.position.get("prefix")
        if isinstance(sent, int) and not isinstance(sent, bool) and 0 <= sent <= MAX_REPLAYED \
                and isinstance(prefix, str) and prefix.startswith("demo"):
            self.stream.id_prefix = prefix
            self._skip_to = sent  # done off the event loop when the stream starts
        elif self.run_number > 1:
            self.stream.id_prefix = f"demo-r{self.run_number}"
        self._save()

    def _save(self) -> None:
        self.save_position({"run": self.run_number, "sent": max(self.stream.count, self._skip_to),
                            "prefix": self.stream.id_prefix})

    async def _go_on(self) -> None:
        """Replay the script silently to where the last run stopped (a thread: 0.1 ms each)."""
        if self._skip_to > self.stream.count:
            self.status.set(CATCHING_UP, f"going on from mention {self._skip_to}")
            await asyncio.to_thread(self.stream.skip, self._skip_to, self.start or self.clock())

    async def run(self, emit: Emit) -> None:
        await self._go_on()
        self._emit = emit
        self.status.set(LIVE, f"demo stream, {self.rate:g}/s" + (" (burst)" if self.burst else ""))
        if self._pending:
            pending, self._pending = self._pending, []
            self._send(pending)
        simulated = self.start
        try:
            while True:
                batch: list[Mention] = []
                waited = 0.0
                # At high rates, gather the mentions due within ~50 ms into one emit.
                while True:
                    at = simulated if simulated is not None else self.clock()
                    batch.append(self.stream.next(at))
                    gap = self._timing.expovariate(self.rate) if self.rate > 0 else 0.05
                    if simulated is not None:
                        simulated += timedelta(seconds=gap)
                    waited += gap
                    if waited >= 0.05 or len(batch) >= 500:
                        break
                self._send(batch)
                await asyncio.sleep(waited)
        except asyncio.CancelledError:
            self.status.set(STOPPED, "demo stream stopped")
            raise
        finally:
            self._emit = None

    async def poll(self, emit: Emit) -> None:
        """One pass (``ingest --once``): the answers already due, then the stream's current
        batch — the mentions of the last minute at ``rate`` (at least one), stamped over that
        minute up to now — and return."""
        await self._go_on()
        self.status.set(LIVE, "demo stream, one batch")
        now = self.start or self.clock()
        count = max(1, round(self.rate * 60))
        batch, self._pending = self._pending, []
        for i in range(count):
            batch.append(self.stream.next(now - timedelta(seconds=60 * (count - 1 - i) / count)))
        self.status.received += count  # the answers were counted when they came
        emit(batch)
        self._save()

    def _send(self, batch: list[Mention]) -> None:
        self.status.received += len(batch)
        if self._emit is not None:
            self._emit(batch)
            self._save()
        else:
            self._pending.extend(batch)

    async def deliver(self, item: dict) -> str:
        """"Post" locally; some customers (always the same ones for a seed) answer later."""
        self._sent += 1
        remote_id = f"demo-out-{self._sent}"
        answer = self._answer_for(item)
        if answer is not None:
            lo, hi = self.answer_delay
            key = f"{self.seed}|{item.get('id', remote_id)}"
            delay = lo + (hi - lo) * (zlib.crc32(key.encode()) % 1000) / 1000
            task = asyncio.get_running_loop().create_task(self._answer_later(delay, answer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return remote_id

    def _answer_for(self, item: dict) -> Mention | None:
        """The customer's answer to a delivered item, or None for customers who stay silent."""
        handle = str(item.get("to") or "").lstrip("@")
        if not handle:
            return None
        h = zlib.crc32(f"{self.seed}|{handle.casefold()}".encode())
        if h % 3 == 0:  # a third of customers never answer
            return None
        kind = item.get("kind", "reply")
        if kind in ("bridge", "dm") and item.get("channel", PUBLIC) == PUBLIC:
            choice = "sent_dm"  # we asked them to DM us: they do
        elif kind == "close_loop" or (h >> 4) % 4:
            choice = "thanks"
        else:
            choice = "not_sorted"
        text, channel, intent = _ANSWERS[choice]
        if item.get("channel") == DIRECT:  # answered in private: they answer in private
            text, channel = text.removeprefix("@northline "), DIRECT
        author = self.stream.author(handle) or Author(handle)
        self._answers += 1
        run = "" if self.run_number == 1 else f"-r{self.run_number}"
        mid = f"demo{run}-answer-{self._answers}"
        reply_to = str(item.get("in_reply_to") or "").rpartition("|")[2] or None
        thread = None
        if channel == PUBLIC and reply_to:
            thread = self._thread_of(reply_to)
        rng = random.Random(h)
        now = self.clock()
        m = Mention(
            id=mid, source=SOURCE, channel=channel,
            author=Author(author.handle, author.name, author.followers, author.verified),
            text=clean_text(text.format_map(_Filler(rng, author))), created_at=now,
            received_at=now, in_reply_to=reply_to if channel == PUBLIC else None, thread=thread,
            raw_id=mid, language="en",
        )
        self.stream.intended[m.key] = intent
        return m

    def _thread_of(self, mention_id: str) -> str:
        return self.stream.threads.get(mention_id, mention_id)

    async def _answer_later(self, delay: float, answer: Mention) -> None:
        await asyncio.sleep(delay)
        now = self.clock()
        answer.created_at = answer.received_at = now
        self._send([answer])

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
