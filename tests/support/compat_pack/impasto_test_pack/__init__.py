"""A custom-node pack written against ComfyUI's module names, exercising the node API the spec describes.

Loaded by black-box tests through `--extra-model-paths-config` pointing at `extra_model_paths.yaml` next to
this package. Each module holds one area; this file merges their mappings (relative imports, as packs do).
"""

from .async_nodes import NODE_CLASS_MAPPINGS as _ASYNC
from .basic import NODE_CLASS_MAPPINGS as _BASIC
from .basic import NODE_DISPLAY_NAME_MAPPINGS as _BASIC_NAMES
from .flow import NODE_CLASS_MAPPINGS as _FLOW
from .lists import NODE_CLASS_MAPPINGS as _LISTS
from .validation import NODE_CLASS_MAPPINGS as _VALIDATION

NODE_CLASS_MAPPINGS = {**_BASIC, **_VALIDATION, **_FLOW, **_LISTS, **_ASYNC}
NODE_DISPLAY_NAME_MAPPINGS = dict(_BASIC_NAMES)
