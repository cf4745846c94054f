"""Cache keys: a node's input signature (execution.md §8.1).

A node's key covers its class, its IS_CHANGED value, its id only when the class asks for that, its
constants, and, for every link, the key of the linked node with the output index. Keys therefore
never depend on node ids, an identical sub-graph under other ids gets the same keys, and a changed
constant changes the key of that node and of everything downstream.

Each key is a digest of the node's own part with its sources' digests in place of the links (a
Merkle tree), so computing all keys of a 1,000-node chain is linear, not quadratic. A constant that
cannot be encoded structurally, and NaN, are replaced by a token unique to this process and call,
so such a node never hits the cache.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable
from typing import Any

from impasto.graph.dynprompt import DynamicPrompt
from impasto.protocol.prompt import is_link, link_index

CacheKey = bytes

_unique = itertools.count()


class _Unhashable(Exception):
    pass


def encode_constant(value: Any) -> str:
    """A canonical text for a constant; unique (never equal to another) when it is not plain data."""
    kind = type(value)
    if kind is int:
        return f"i{value:x}"  # hexadecimal: no digit limit, unlike decimal repr() of huge ints
    if kind is str:
        return f"s{value!r}"
    try:
        return _encode(value, 0)
    except (_Unhashable, RecursionError):
        return f"!unique:{next(_unique)}"


def _encode(value: Any, depth: int) -> str:
    if depth > 200:
        raise _Unhashable
    if value is None or isinstance(value, bool | str):
        return f"{type(value).__name__[0]}{value!r}"
    if isinstance(value, int):
        return f"i{value:x}"
    if isinstance(value, float):
        if math.isnan(value):
            raise _Unhashable
        return f"f{value!r}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted((_encode(k, depth + 1), _encode(v, depth + 1)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    raise _Unhashable


class Signer:
    """Computes and memoizes the cache key of each node of a dynamic prompt.

    Args:
        dynprompt: the run's live graph.
        identity: whether a class's key includes the node id (NOT_IDEMPOTENT, or a hidden UNIQUE_ID).
        is_changed: a node's IS_CHANGED value (already computed for the run).
    """

    def __init__(
        self,
        dynprompt: DynamicPrompt,
        identity: Callable[[str], bool],
        is_changed: Callable[[str], Any],
    ) -> None:
        self._dynprompt = dynprompt
        self._identity = identity
        self._is_changed = is_changed
        self._keys: dict[str, CacheKey] = {}

    def key(self, node_id: str) -> CacheKey:
        known = self._keys.get(node_id)
        if known is not None:
            return known
        # Depth-first over sources; `on_path` holds the nodes being computed, so a link back into
        # one of them (a cycle) is not followed.
        on_path = {node_id}
        stack = [(node_id, iter(self._sources(node_id)))]
        while stack:
            current, sources = stack[-1]
            for source in sources:
                if source not in self._keys and source not in on_path:
                    on_path.add(source)
                    stack.append((source, iter(self._sources(source))))
                    break
            else:
                stack.pop()
                on_path.discard(current)
                self._keys[current] = self._digest(current)
        return self._keys[node_id]

    def _sources(self, node_id: str) -> list[str]:
        inputs = self._dynprompt.get_node(node_id).get("inputs", {})
        return [v[0] for v in inputs.values() if is_link(v) and self._dynprompt.has_node(v[0])]

    def _digest(self, node_id: str) -> CacheKey:
        node = self._dynprompt.get_node(node_id)
        class_type = node["class_type"]
        parts = [class_type, encode_constant(self._is_changed(node_id))]
        if self._identity(class_type):
            parts.append("#" + node_id)
        inputs = node.get("inputs", {})
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                source = value[0]
                # A link back into a node still being computed (a cycle) or to a missing node has no key.
                source_key = self._keys.get(source)
                ref = source_key.hex() if source_key is not None else f"!missing:{source}:{next(_unique)}"
                index = link_index(value)
                parts.append(f"{name}=>{ref}:{'-' if index is None else format(index, 'x')}")
            else:
                parts.append(f"{name}={encode_constant(value)}")
        return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=20).digest()
