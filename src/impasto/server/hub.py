"""The event hub: routes run events and queue status to sockets (websocket.md §3-4, §6) and keeps what a
reconnecting tab needs to see its running job again (§1, reconnect replay).
"""

from __future__ import annotations

import json
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from impasto.protocol.events import EXECUTION_BLOCKED, EventType
from impasto.protocol.progress import ProgressStateFold
from impasto.server.channel import Channel

log = logging.getLogger(__name__)

COALESCED = {EventType.PROGRESS.value, EventType.PROGRESS_STATE.value}
BROADCAST_WITHOUT_CLIENT = {
    EventType.PROGRESS.value,
    EventType.PROGRESS_STATE.value,
    EventType.EXECUTION_INTERRUPTED.value,
}
TERMINAL = {
    EventType.EXECUTION_SUCCESS.value,
    EventType.EXECUTION_ERROR.value,
    EventType.EXECUTION_INTERRUPTED.value,
}


_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per message


def message(type_: str, data: Any) -> str:
    """A text message `{"type": ..., "data": ...}` as compact JSON (raises TypeError or ValueError for data that
    is not JSON). Encoded by orjson, about ten times faster than the standard library at a dozen messages per
    job; what orjson refuses (integers beyond 64 bits, non-string keys) is encoded by the standard library.
    A NaN or an infinity is sent as null, as a browser's JSON.stringify writes it: the standard library would
    write a NaN token, which the frontend's JSON.parse rejects, dropping the whole message."""
    envelope = {"type": type_, "data": data}
    try:
        return orjson.dumps(envelope).decode()
    except TypeError:
        return _encode(_finite(envelope))


def _finite(value: Any, path: frozenset[int] = frozenset()) -> Any:
    """`value` with every NaN and infinity replaced by None (the standard library's path of `message`); a
    container inside itself is a ValueError, as the standard library reports it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if id(value) in path:
            raise ValueError("Circular reference detected")
        inner = path | {id(value)}
        if isinstance(value, dict):
            return {k: _finite(v, inner) for k, v in value.items()}
        return [_finite(v, inner) for v in value]
    return value


@dataclass(slots=True)
class _RunState:
    """What replay needs of a running job."""

    client_id: str | None
    fold: ProgressStateFold
    start: str | None = None
    cached: str | None = None
    executing: str | None = None
    progress: str | None = None


@dataclass(frozen=True, slots=True)
class QueueCounts:
    pending: int
    running: int
    paused: bool = False


class Hub:
    def __init__(self) -> None:
        # Called after each `status` broadcast, that is after every committed queue change (repeats watch it).
        self.queue_changed: list[Callable[[], None]] = []
        self._channels: dict[str, set[Channel]] = {}
        self._runs: dict[str, _RunState] = {}
        self._seq = 0

    @property
    def seq(self) -> int:
        """The queue sequence number: increases with every announced change."""
        return self._seq

    def _status_data(self, counts: QueueCounts) -> dict[str, Any]:
        info = {"pending": counts.pending, "running": counts.running, "paused": counts.paused, "seq": self._seq}
        return {"status": {"exec_info": {"queue_remaining": counts.pending + counts.running, "impasto": info}}}

    # sockets
    def connect(self, channel: Channel, counts: QueueCounts) -> None:
        """Register a socket and send its first message: `status` with its `sid`."""
        self._channels.setdefault(channel.sid, set()).add(channel)
        channel.send(message(EventType.STATUS.value, {**self._status_data(counts), "sid": channel.sid}))

    def replay(self, channel: Channel, *, others: bool = False) -> None:
        """Send the state of each running job this socket submitted, or with `others` (an observer) of the rest."""
        for prompt_id, run in self._runs.items():
            if (run.client_id == channel.sid) == others:
                continue
            for payload in (run.start, run.cached):
                if payload is not None:
                    channel.send(payload, prompt_id)
            if run.fold.nodes:
                channel.send(message(EventType.PROGRESS_STATE.value, run.fold.apply({})), prompt_id)
            for payload in (run.executing, run.progress):
                if payload is not None:
                    channel.send(payload, prompt_id)

    def disconnect(self, channel: Channel) -> None:
        channel.close()
        channels = self._channels.get(channel.sid)
        if channels is not None:
            channels.discard(channel)
            if not channels:
                del self._channels[channel.sid]

    def channels(self) -> list[Channel]:
        return [c for group in self._channels.values() for c in group]

    # queue status
    def status(self, counts: QueueCounts) -> None:
        """Broadcast the queue state after a change (`impasto.seq` increases with every one)."""
        self._seq += 1
        payload = message(EventType.STATUS.value, self._status_data(counts))
        for channel in self.channels():
            channel.send(payload)
        for listener in self.queue_changed:
            listener()

    def send_custom(self, event: str | int, data: Any, sid: str | None) -> None:
        """A message from node code (`send_sync`): JSON `{type, data}`, or a binary frame for an int event with
        bytes; to the sockets of `sid`, or to every socket when `sid` is None."""
        if isinstance(event, int) and isinstance(data, bytes | bytearray):
            payload: str | bytes = struct.pack(">I", event) + bytes(data)
        else:
            try:
                payload = message(str(event), data)
            except (TypeError, ValueError) as exc:
                log.warning("a node's %r message is not JSON and is not sent: %s", event, exc)
                return
        targets = self.channels() if sid is None else list(self._channels.get(sid, ()))
        for channel in targets:
            channel.send(payload)

    # runs
    def run_started(self, prompt_id: str, client_id: str | None) -> None:
        self._runs[prompt_id] = _RunState(client_id, ProgressStateFold(prompt_id))

    def run_event(self, prompt_id: str, type_: str, data: dict[str, Any]) -> None:
        run = self._runs.get(prompt_id)
        if run is None:
            return
        if type_ == EventType.PROGRESS_STATE.value:
            data = dict(run.fold.apply(data))
        payload = message(type_, data)
        self._remember(run, type_, payload)
        blocked_notice = type_ == EventType.EXECUTION_ERROR.value and data.get("exception_type") == EXECUTION_BLOCKED
        broadcast = run.client_id is None and (type_ in BROADCAST_WITHOUT_CLIENT or blocked_notice)
        for channel in self._targets(run.client_id, broadcast):
            if type_ in COALESCED:
                channel.send_progress(prompt_id, type_, payload)
            else:
                channel.send(payload, prompt_id, terminal=type_ in TERMINAL)

    def run_preview(self, prompt_id: str, node_id: str, image_format: str, image: bytes) -> None:
        run = self._runs.get(prompt_id)
        if run is None:
            return
        frames: dict[bool, bytes] = {}
        for channel in self._targets(run.client_id, run.client_id is None, previews=True):
            with_meta = channel.preview_metadata
            if with_meta not in frames:
                frames[with_meta] = self._preview_frame(run, prompt_id, node_id, image_format, image, with_meta)
            channel.send_progress(prompt_id, f"preview:{node_id}", frames[with_meta])

    def run_finished(self, prompt_id: str, *, ended: bool = True) -> None:
        """After the job's final status: `executing null` to its client, the last message of the run.

        A job removed before it started (`ended` false) had no run, so it gets no closing message.
        """
        run = self._runs.pop(prompt_id, None)
        if run is None or run.client_id is None or not ended:
            return
        payload = message(EventType.EXECUTING.value, {"node": None, "prompt_id": prompt_id})
        for channel in self._targets(run.client_id, False):
            channel.send(payload, prompt_id, now=True)  # the run's end, which a client waits for: no later turn

    def _targets(self, client_id: str | None, broadcast: bool, *, previews: bool = False) -> list[Channel]:
        if broadcast:
            return self.channels()
        targets = list(self._channels.get(client_id, ())) if client_id is not None else []
        for channel in self.channels():
            if (
                channel.observer
                and channel.sid != client_id
                and (not previews or channel.flags.get("impasto_observer_previews"))
            ):
                targets.append(channel)
        return targets

    @staticmethod
    def _remember(run: _RunState, type_: str, payload: str) -> None:
        if type_ == EventType.EXECUTION_START.value:
            run.start = payload
        elif type_ == EventType.EXECUTION_CACHED.value:
            run.cached = payload
        elif type_ == EventType.EXECUTING.value:
            run.executing, run.progress = payload, None
        elif type_ == EventType.PROGRESS.value:
            run.progress = payload

    @staticmethod
    def _preview_frame(
        run: _RunState, prompt_id: str, node_id: str, image_format: str, image: bytes, with_meta: bool
    ) -> bytes:
        mime = "image/png" if image_format.upper() == "PNG" else "image/jpeg"
        if not with_meta:
            return struct.pack(">II", 1, 2 if mime == "image/png" else 1) + image
        state = run.fold.nodes.get(node_id)
        meta = {
            "node_id": node_id,
            "prompt_id": prompt_id,
            "display_node_id": state["display_node_id"] if state else node_id,
            "parent_node_id": state["parent_node_id"] if state else None,
            "real_node_id": state["real_node_id"] if state else node_id,
            "image_type": mime,
        }
        encoded = json.dumps(meta).encode()
        return struct.pack(">II", 4, len(encoded)) + encoded + image
