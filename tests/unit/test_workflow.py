"""Writing a run's own values into the UI workflow it carries (http-api.md §7.9)."""

from __future__ import annotations

from impasto.protocol.workflow import show_item_values


def extra(*nodes: dict) -> dict:
    return {"extra_pnginfo": {"workflow": {"nodes": list(nodes)}}, "client_id": "c"}


def test_named_widget_values_of_matching_nodes_change():
    data = extra(
        {"id": 3, "widgets_values": [5, "fixed"], "widgets_values_named": {"seed": 5, "steps": 20}},
        {"id": 4, "widgets_values": [1]},
    )
    show_item_values(data, {"3.seed": 77, "3.cfg": 8.0, "4.seed": 9, "9.seed": 1})
    nodes = data["extra_pnginfo"]["workflow"]["nodes"]
    assert nodes[0]["widgets_values_named"] == {"seed": 77, "steps": 20}  # only inputs it names
    assert nodes[0]["widgets_values"] == [5, "fixed"] and nodes[1] == {"id": 4, "widgets_values": [1]}


def test_anything_without_a_workflow_is_left_alone():
    cases: list[dict] = [{}, {"extra_pnginfo": None}, {"extra_pnginfo": {"workflow": {"nodes": "x"}}}]
    for data in cases:
        before = repr(data)
        show_item_values(data, {"3.seed": 1})
        assert repr(data) == before
