"""Queue.count_above: how many of a set of conversations sit above a row — the same answer as
asking each one's index, for every edge (the console's "▲ N new critical above" line)."""

import random

from tui.core.queue import Queue


def brute(queue: Queue, ids: set[str], top: int) -> int:
    return sum(1 for c in ids if (i := queue.index(c)) is not None and i < top)


def test_count_above_agrees_with_index_for_every_row():
    rng = random.Random(7)
    queue = Queue()
    for n in range(60):
        # ties on the first fields: the conversation id decides, as in the queue itself
        queue.update(f"c{n}", (rng.randint(0, 3), rng.randint(0, 5)))
    queue.remove("c5")
    ids = {f"c{n}" for n in rng.sample(range(70), 25)} | {"c5", "gone"}
    for top in range(-1, len(queue) + 3):
        assert queue.count_above(ids, top) == brute(queue, ids, top), top
    assert queue.count_above(set(), 30) == 0


def test_count_above_follows_moves():
    queue = Queue()
    for n, key in enumerate([(1,), (2,), (3,), (4,)]):
        queue.update(f"c{n}", key)
    assert queue.count_above({"c3"}, 2) == 0
    queue.update("c3", (0,))  # became the most urgent
    assert queue.count_above({"c3"}, 1) == 1
    assert queue.count_above({"c3", "c0"}, 2) == 2
