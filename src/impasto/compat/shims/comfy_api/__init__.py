"""`comfy_api`: ComfyUI's versioned node API for packs: `v0_0_2` (ComfyAPI progress reports) and `latest`
(the V3 schema, node-api.md §6)."""
