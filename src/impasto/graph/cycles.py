"""Static cycle detection over prompt links (iterative Tarjan, so deep graphs cannot overflow the stack)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


def find_cycles(roots: Iterable[str], sources: Callable[[str], Iterator[str]]) -> list[set[str]]:
    """The strongly connected components reachable from `roots` that contain a cycle.

    `sources(n)` yields the nodes `n` links to. A component is a cycle when it has more than one node,
    or one node that links to itself.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[set[str]] = []
    counter = 0
    for root in roots:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, sources(root))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sources(nxt)))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in set(sources(node)):
                    cycles.append(component)
    return cycles
