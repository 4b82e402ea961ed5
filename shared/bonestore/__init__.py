"""bonestore: the store and shipping-rules service (what runs in Lambda)."""

from bonestore.pydantic_plugins import skip_plugin_discovery

# Before any module of the package builds a pydantic model (bonestore/pydantic_plugins.py).
skip_plugin_discovery()
