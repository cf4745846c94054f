"""`comfy_execution`: the graph helpers custom nodes use for expansion and blocking (node-api.md §4.2-4.3).

Torch-free: `comfy_execution.graph_utils` imports without torch and without a server, for clients that only
build prompts.
"""
