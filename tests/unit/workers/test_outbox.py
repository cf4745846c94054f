"""The worker's outbox: batches keep the order of what was put, lose nothing, and end with the final report."""

from __future__ import annotations

import threading

from impasto.workers.outbox import Outbox


def test_batches_flushed_while_messages_are_put_keep_every_message_in_order():
    batches: list[list[object]] = []
    outbox = Outbox(batches.append)
    done = threading.Event()

    def put() -> None:
        for number in range(20_000):
            outbox.put(number)
        done.set()

    def tick() -> None:
        while not done.is_set():
            outbox.flush()

    threads = [threading.Thread(target=put), threading.Thread(target=tick), threading.Thread(target=tick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outbox.flush("end")
    assert [m for batch in batches for m in batch] == [*range(20_000), "end"]
    assert all(batches)  # an empty flush sends nothing
    assert batches[-1][-1] == "end"


def test_the_final_report_goes_in_the_same_message_as_what_is_pending():
    batches: list[list[object]] = []
    outbox = Outbox(batches.append)
    outbox.flush()
    outbox.put("event")
    outbox.flush("finished")
    assert batches == [["event", "finished"]]
