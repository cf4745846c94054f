"""Static cycle detection (execution.md §3, rule 3)."""

from __future__ import annotations

from collections.abc import Iterator

from impasto.graph.cycles import find_cycles


def edges(graph: dict[str, list[str]]):
    """`sources` for a graph given as node -> the nodes it links to."""

    def sources(node: str) -> Iterator[str]:
        yield from graph.get(node, [])

    return sources


def test_an_acyclic_graph_has_no_cycles():
    graph = {"out": ["a", "b"], "a": ["c"], "b": ["c"], "c": []}
    assert find_cycles(["out"], edges(graph)) == []


def test_no_roots_means_no_cycles():
    assert find_cycles([], edges({"a": ["a"]})) == []


def test_a_self_loop_is_a_cycle():
    assert find_cycles(["out"], edges({"out": ["a"], "a": ["a"]})) == [{"a"}]


def test_a_root_on_a_self_loop_is_a_cycle():
    assert find_cycles(["a"], edges({"a": ["a"]})) == [{"a"}]


def test_a_ring_is_one_cycle_without_the_nodes_that_lead_into_it():
    graph = {"out": ["x"], "x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}
    assert find_cycles(["out"], edges(graph)) == [{"a", "b", "c"}]


def test_nodes_hanging_off_a_cycle_are_not_part_of_it():
    graph = {"out": ["a"], "a": ["b", "leaf"], "b": ["a", "other"], "leaf": [], "other": ["leaf"]}
    assert find_cycles(["out"], edges(graph)) == [{"a", "b"}]


def test_two_separate_cycles_are_reported_apart():
    graph = {"out": ["a", "x"], "a": ["b"], "b": ["a"], "x": ["y"], "y": ["x"]}
    cycles = find_cycles(["out"], edges(graph))
    assert sorted(sorted(c) for c in cycles) == [["a", "b"], ["x", "y"]]


def test_two_cycles_sharing_a_node_are_one_component():
    graph = {"out": ["a"], "a": ["b", "c"], "b": ["a"], "c": ["a"]}
    assert find_cycles(["out"], edges(graph)) == [{"a", "b", "c"}]


def test_a_cycle_unreachable_from_the_roots_is_not_reported():
    graph = {"out": ["a"], "a": [], "x": ["y"], "y": ["x"]}
    assert find_cycles(["out"], edges(graph)) == []


def test_a_cycle_shared_by_several_roots_is_reported_once():
    graph = {"o1": ["a"], "o2": ["b"], "a": ["b"], "b": ["a"]}
    assert find_cycles(["o1", "o2", "o1"], edges(graph)) == [{"a", "b"}]


def test_duplicate_edges_do_not_make_a_cycle():
    graph = {"out": ["a", "a"], "a": ["b", "b"], "b": []}
    assert find_cycles(["out"], edges(graph)) == []


def test_sources_are_iterated_lazily_and_may_be_generators():
    calls: list[str] = []

    def sources(node: str) -> Iterator[str]:
        calls.append(node)
        yield from {"out": ["a"], "a": ["out"]}.get(node, [])

    assert find_cycles(["out"], sources) == [{"a", "out"}]
    assert set(calls) == {"out", "a"}


def test_a_long_chain_and_a_long_ring_need_no_recursion():
    n = 100_000
    chain = {str(i): [str(i + 1)] for i in range(n)}
    assert find_cycles(["0"], edges(chain)) == []
    ring = dict(chain)
    ring[str(n)] = ["0"]
    [cycle] = find_cycles(["0"], edges(ring))
    assert len(cycle) == n + 1
