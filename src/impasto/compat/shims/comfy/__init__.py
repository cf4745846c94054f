"""`comfy`: the parts of ComfyUI's `comfy` package that custom nodes import (`utils`, `model_management`,
`comfy_types`), written for impasto (node-api.md §4)."""
