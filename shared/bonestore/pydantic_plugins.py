"""Pydantic's plugin discovery skipped where the environment turns plugins off.

Building a model's validator asks ``pydantic.plugin._loader.get_plugins()``, and that
module imports ``importlib.metadata`` (zipfile, shutil, email, ...: ~6.5 ms of every
cold start here, ``make bench``'s import breakdown) even when ``PYDANTIC_DISABLE_PLUGINS``
tells it to return no plugins. The template sets that variable for every function
(``PYDANTIC_DISABLE_PLUGINS: __all__``, pydantic's own switch: "Disabling plugins",
https://docs.pydantic.dev/latest/concepts/plugins/); where it is set this installs, in
the loader's place, a module answering as pydantic's loader does when it is: no plugins.
Anywhere else (tests, ``bonestore serve`` unless it is set) nothing changes.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from typing import Any

LOADER = "pydantic.plugin._loader"
# The values pydantic's loader reads as "no plugin at all" (the names of some plugins,
# its other form, still need the loader: they are left to it).
ALL_DISABLED = ("__all__", "1", "true")


def _no_plugins() -> Iterable[Any]:
    return ()


def skip_plugin_discovery() -> bool:
    """Install the stand-in loader when plugins are off and pydantic has not loaded its
    own yet; whether it is in place."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ALL_DISABLED:
        return False
    loader = sys.modules.get(LOADER)
    if loader is None:
        loader = types.ModuleType(LOADER, "pydantic's plugin loader with plugins disabled")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules[LOADER] = loader
    return loader.__dict__.get("get_plugins") is _no_plugins
