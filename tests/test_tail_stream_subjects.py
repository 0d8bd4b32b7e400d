"""A stream read shows what the stream holds, whatever its subjects are now.

A stream's configured subjects say what it captures from now on; messages it stored under
subjects it no longer lists stay in it (natscli's `nats stream view` and `nats sub --all`
show them). Without `-s`, `evmon tail --stream` must read every stored message, not filter
on today's `config.subjects`.
"""

from __future__ import annotations

import nats
import nats.js.api
import orjson

from tests.helpers import run_evmon


async def test_a_stream_read_shows_messages_under_subjects_it_no_longer_lists(
    nats_url: str, unique: str
) -> None:
    name = unique.replace("-", "_").upper()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{unique}.old.>"], storage="memory")
        for i in range(3):
            await js.publish(f"{unique}.old.e", b'{"i":%d}' % i)
        await js.update_stream(
            nats.js.api.StreamConfig(name=name, subjects=[f"{unique}.new.>"], storage="memory")
        )
        await js.publish(f"{unique}.new.e", b'{"i":3}')
    finally:
        await nc.close()
    done = run_evmon(
        ["tail", "--nats", nats_url, "--stream", name, "--from", "first", "-n", "4",
         "--format", "jsonl"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    records = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(r["subject"], r["offset"]) for r in records] == [
        (f"{unique}.old.e", 1),
        (f"{unique}.old.e", 2),
        (f"{unique}.old.e", 3),
        (f"{unique}.new.e", 4),
    ]
    # -s still narrows the read to the subjects asked for.
    narrowed = run_evmon(
        ["tail", "--nats", nats_url, "--stream", name, "-s", f"{unique}.new.>", "--from",
         "first", "-n", "1", "--format", "jsonl"],
    )  # fmt: skip
    assert [orjson.loads(x)["offset"] for x in narrowed.stdout.splitlines()] == [4]
