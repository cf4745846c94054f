"""Cache keys and the cache variants (execution.md §8)."""

import math

from impasto.engine.cache import CacheEntry, CacheMode, CacheSettings, DictOutputCache
from impasto.protocol.events import EventType
from tests.support.testnodes import CallLog, Changing


def chain(value: int, output_id: str = "3") -> dict:
    return {
        "1": {"class_type": "Const", "inputs": {"value": value}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        output_id: {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def cached(run) -> list[str]:
    return run.of(EventType.EXECUTION_CACHED)[0]["nodes"]


def test_changing_one_constant_reruns_that_node_and_downstream_only(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Const", "inputs": {"value": 2}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    harness.run(prompt)
    prompt["2"]["inputs"]["value"] = 5
    run = harness.run(prompt)
    assert run.executing() == ["2", "3", "4"]
    assert cached(run) == ["1"]


def test_keys_do_not_depend_on_node_ids(harness):
    harness.run(chain(1))
    renamed = {
        "a": {"class_type": "Const", "inputs": {"value": 1}},
        "b": {"class_type": "Add", "inputs": {"a": ["a", 0], "b": 1}},
        "c": {"class_type": "Output", "inputs": {"value": ["b", 0]}},
    }
    run = harness.run(renamed)
    assert run.executing() == []
    assert cached(run) == ["a", "b", "c"]


def test_not_idempotent_nodes_key_on_their_id(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "NotIdempotent", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "NotIdempotent", "inputs": {"value": ["1", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }
    harness.run(prompt)
    assert CallLog.count("NotIdempotent") == 2


def test_classic_drops_entries_the_next_run_does_not_use(harness):
    harness.run(chain(1))
    harness.run(chain(2))
    run = harness.run(chain(1))
    assert cached(run) == []


def test_lru_keeps_other_workflows_up_to_its_size(make_harness):
    harness = make_harness(CacheSettings(CacheMode.LRU, lru_size=10))
    harness.run(chain(1))
    harness.run(chain(2))
    run = harness.run(chain(1))
    assert cached(run) == ["1", "2", "3"]


def test_lru_evicts_least_recently_used_beyond_its_size(make_harness):
    harness = make_harness(CacheSettings(CacheMode.LRU, lru_size=3))
    harness.run(chain(1))
    harness.run(chain(2))  # 6 entries, the run's 3 are kept
    assert len(harness.engine.cache) == 6
    harness.run(chain(3))  # at its start the oldest (value 1) are evicted
    run = harness.run(chain(1))
    assert cached(run) == []


def test_lru_zero_means_classic(make_harness):
    harness = make_harness(CacheSettings(CacheMode.LRU, lru_size=0))
    assert harness.engine.cache.mode is CacheMode.CLASSIC


def test_cache_none_recomputes_identical_reruns(make_harness):
    harness = make_harness(CacheSettings(CacheMode.NONE))
    harness.run(chain(1))
    run = harness.run(chain(1))
    assert cached(run) == []
    assert run.executing() == ["1", "2", "3"]
    assert run.result.outputs["3"] == {"text": ["2"]}


PAYLOAD_CHAIN = {
    "1": {"class_type": "Const", "inputs": {"value": 1}},
    "2": {"class_type": "MakePayload", "inputs": {"value": ["1", 0]}},
    "3": {"class_type": "ConsumePayload", "inputs": {"payload": ["2", 0]}},
    "4": {"class_type": "CountPayloads", "inputs": {"after": ["3", 0]}},
    "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
}


def test_cache_none_frees_outputs_once_consumers_ran(make_harness):
    harness = make_harness(CacheSettings(CacheMode.NONE))
    assert harness.run(PAYLOAD_CHAIN).result.outputs["5"] == {"text": ["0"]}


def test_classic_cache_keeps_outputs_for_the_next_run(harness):
    assert harness.run(PAYLOAD_CHAIN).result.outputs["5"] == {"text": ["1"]}


def test_ram_pressure_evicts_old_large_entries_first():
    free = [10**12]
    cache = DictOutputCache(CacheSettings(CacheMode.RAM, ram_headroom_gb=1), free_ram=lambda: free[0])

    class Blob:
        def __init__(self, nbytes: int) -> None:
            self.nbytes = nbytes

    def entry(size: int) -> CacheEntry:
        return CacheEntry(ui=None, outputs=[[Blob(size)]])

    cache.begin_run([b"a", b"b"])
    cache.put(b"a", entry(100), node_id="1", root=b"a", scope=None)
    cache.put(b"b", entry(10**9), node_id="2", root=b"b", scope=None)
    cache.begin_run([b"c"])
    cache.put(b"c", entry(5), node_id="3", root=b"c", scope=None)
    cache.poll()
    assert len(cache) == 3  # plenty of RAM: nothing evicted
    free[0] = 1024**3 - 2000  # 2000 bytes short of the headroom
    cache.poll()
    assert cache.get(b"b") is None  # the large old entry goes first
    assert cache.get(b"a") is not None and cache.get(b"c") is not None


def test_is_changed_receives_constants_only_and_joins_the_key(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 3}},
        "2": {"class_type": "Changing", "inputs": {"token": "x", "value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    harness.run(prompt)
    assert Changing.received == [{"token": "x", "value": None}]
    assert cached(harness.run(prompt)) == ["1", "2", "3"]


def test_is_changed_nan_always_reruns(harness):
    prompt = {
        "1": {"class_type": "Changing", "inputs": {"token": "nan", "value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    harness.run(prompt)
    run = harness.run(prompt)
    assert run.executing() == ["1", "2"]


def test_is_changed_exception_means_rerun(harness):
    prompt = {
        "1": {"class_type": "Changing", "inputs": {"token": "raise", "value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    assert harness.run(prompt).result.outputs["2"] == {"text": ["1"]}
    assert harness.run(prompt).executing() == ["1", "2"]


def test_is_changed_is_called_for_every_node_of_the_prompt(harness):
    prompt = chain(1)
    prompt["9"] = {"class_type": "Changing", "inputs": {"token": "unused", "value": 0}}
    harness.run(prompt)
    assert Changing.received == [{"token": "unused", "value": 0}]


def test_precomputed_is_changed_key_replaces_the_call(harness):
    prompt = {
        "1": {"class_type": "Changing", "inputs": {"token": "x", "value": 1}, "is_changed": ["fixed"]},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    harness.run(prompt)
    assert Changing.received == []
    prompt["1"]["is_changed"] = ["other"]
    assert harness.run(prompt).executing() == ["1", "2"]


def test_unhashable_constants_never_hit(harness):
    prompt = {
        "1": {"class_type": "Changing", "inputs": {"token": "x", "value": 1}, "is_changed": [math.nan]},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    harness.run(prompt)
    assert harness.run(prompt).executing() == ["1", "2"]


def test_free_memory_drops_outputs_and_instances(harness):
    harness.run(chain(1))
    assert harness.engine.instances
    harness.engine.free_memory()
    assert harness.engine.instances == {}
    assert cached(harness.run(chain(1))) == []
