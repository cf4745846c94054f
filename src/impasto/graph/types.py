"""Link type compatibility (execution.md §3, "Type compatibility")."""

from __future__ import annotations

from typing import Any

ANY = "*"


def types_compatible(received: Any, declared: Any) -> bool:
    """Whether an output of type `received` may feed an input declared as `declared`.

    Equal types match; comma unions match when they share a member; a plain `"*"` on either side
    matches anything (impasto deviation: the frontend lets users draw such links). A custom `str`
    subclass that overrides `!=` is honoured when the classes are at hand (in-process validation);
    across processes the catalog carries that as `accepts_any` / `any_outputs` instead.
    """
    if not received != declared:  # noqa: SIM202  # `!=` is what custom type classes override
        return True
    if received == ANY or declared == ANY:
        return True
    if not isinstance(received, str) or not isinstance(declared, str):
        return False
    left = {t.strip() for t in received.split(",")}
    right = {t.strip() for t in declared.split(",")}
    return bool(left & right)
