"""The benchmark harness: impasto or any ComfyUI-API server, measured over HTTP and the WebSocket only.

`python -m bench` runs it (`bench/harness/cli.py`). Nothing here imports impasto: the harness must measure
ComfyUI with the same code.
"""
