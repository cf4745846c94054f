"""What the Run & Stop browser tests share: the seed-feature workflows (F1, F2, F3, F5 of seed-features.md) in the
UI format the frontend saves, and recorders for what the page sends and receives.

The recorders live in the page (an init script wraps `WebSocket` and `fetch`), so that a test reads exactly what the
frontend saw, in order, with the page's own clock, whatever the test's thread was doing meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

# The frontend's main socket (`/ws?clientId=...`) and its requests to `/api/prompt`, as the page saw them.
RECORDER = """
(() => {
  const sent = (window.__prompts = []);
  const requests = (window.__requests = []);
  const received = (window.__messages = []);
  window.__sockets = 0;
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(url, protocols) {
      super(url, protocols);
      if (String(url).includes('impasto-observer')) return;
      window.__sockets += 1;
      this.addEventListener('message', (event) => {
        if (typeof event.data !== 'string') return;
        const message = JSON.parse(event.data);
        received.push({ at: performance.now(), type: message.type, data: message.data });
      });
    }
  };
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    const path = new URL(url, location.href).pathname;
    const isPrompt = path === '/api/prompt' && init?.method === 'POST';
    if (!isPrompt && init?.method === 'POST') {
      requests.push({ at: performance.now(), path, body: init.body ? JSON.parse(init.body) : null });
    }
    const record = isPrompt ? { at: performance.now(), body: JSON.parse(init.body), status: null, answer: null } : null;
    if (record) sent.push(record);
    const response = await nativeFetch(input, init);
    if (record) {
      record.answer = await response.clone().json().catch(() => null);
      record.status = response.status;
    }
    return response;
  };
})();
"""


def record(page: Page) -> None:
    """Records every later page load's prompts, other POSTs and socket messages (call before `open_frontend`)."""
    page.add_init_script(RECORDER)


def prompts_sent(page: Page) -> list[dict[str, Any]]:
    """Each `POST /api/prompt` the page sent: `{at, body, status, answer}` in order."""
    result: list[dict[str, Any]] = page.evaluate("() => window.__prompts")
    return result


def requests_sent(page: Page, path: str | None = None) -> list[dict[str, Any]]:
    """The page's other POST requests (`{at, path, body}`), optionally only those to `path`."""
    result: list[dict[str, Any]] = page.evaluate("() => window.__requests")
    return [r for r in result if path is None or r["path"] == path]


def sockets_opened(page: Page) -> int:
    """How many main sockets the page has opened (1 while it never reconnected)."""
    return int(page.evaluate("() => window.__sockets"))


def messages(page: Page, prompt_id: str | None = None) -> list[dict[str, Any]]:
    """The page's socket messages (`{at, type, data}`), optionally only those naming `prompt_id`."""
    result: list[dict[str, Any]] = page.evaluate("() => window.__messages")
    if prompt_id is None:
        return result
    return [m for m in result if isinstance(m["data"], dict) and m["data"].get("prompt_id") == prompt_id]


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Polls `condition` until it returns something truthy, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)


def command(page: Page, command_id: str) -> None:
    page.evaluate("id => window.app.extensionManager.command.execute(id)", command_id)


def set_widget(page: Page, node_id: int, name: str, value: Any) -> None:
    """Sets a widget as an edit in the page would, and lets the change tracker see it at once."""
    page.evaluate(
        """([nodeId, name, value]) => {
             const node = window.app.graph.getNodeById(nodeId);
             const widget = node.widgets.find((w) => w.name === name);
             widget.value = value;
             widget.callback?.(value);
             window.app.extensionManager.workflow.activeWorkflow.changeTracker.checkState();
           }""",
        [node_id, name, value],
    )


def widget_value(page: Page, node_id: int, name: str) -> Any:
    return page.evaluate(
        "([nodeId, name]) => window.app.graph.getNodeById(nodeId).widgets.find((w) => w.name === name).value",
        [node_id, name],
    )


def load(page: Page, workflow: dict[str, Any]) -> None:
    page.evaluate("workflow => window.app.loadGraphData(workflow)", workflow)


def _node(node_id: int, type_: str, x: int, widgets: list[Any], *, image_in: int | None, image_out: int | None):
    return {
        "id": node_id,
        "type": type_,
        "pos": [x, 100],
        "size": [315, 120],
        "flags": {},
        "order": node_id - 1,
        "mode": 0,
        "inputs": [] if image_in is None else [{"name": "images", "type": "IMAGE", "link": image_in}],
        "outputs": []
        if image_out is None
        else [{"name": "IMAGE", "type": "IMAGE", "links": [image_out], "slot_index": 0}],
        "properties": {},
        "widgets_values": widgets,
    }


def _graph(nodes: list[dict[str, Any]], links: list[list[Any]]) -> dict[str, Any]:
    return {
        "last_node_id": len(nodes),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }


SEED_NODE = 1
SAVE_NODE = 2


def seeded(seed: int, control: str, prefix: str) -> dict[str, Any]:
    """F2: SeededImage (an INT `seed`, so the page adds control_after_generate) -> SaveImage."""
    return _graph(
        [
            _node(SEED_NODE, "SeededImage", 50, [seed, control], image_in=None, image_out=1),
            _node(SAVE_NODE, "SaveImage", 420, [prefix], image_in=1, image_out=None),
        ],
        [[1, SEED_NODE, 0, SAVE_NODE, 0, "IMAGE"]],
    )


def progress(seconds: float, seed: int, control: str, prefix: str) -> dict[str, Any]:
    """F3: SeededProgress (a `seed`, runs `seconds` reporting progress every 50 ms) -> SaveImage."""
    return _graph(
        [
            _node(SEED_NODE, "SeededProgress", 50, [seed, control, seconds], image_in=None, image_out=1),
            _node(SAVE_NODE, "SaveImage", 420, [prefix], image_in=1, image_out=None),
        ],
        [[1, SEED_NODE, 0, SAVE_NODE, 0, "IMAGE"]],
    )


def stuck(seconds: float) -> dict[str, Any]:
    """F5: a pure-Python busy loop that never checks in."""
    return _graph([_node(1, "Stuck", 50, [seconds], image_in=None, image_out=None)], [])


def torch_loop(calls: int) -> dict[str, Any]:
    """F4: many torch module calls and no progress reports."""
    return _graph([_node(1, "TorchLoop", 50, [calls], image_in=None, image_out=None)], [])
