"""Pydantic's plugin discovery skipped where plugins are off (bonestore.pydantic_plugins):
the same answer as pydantic's own loader (no plugins), without its import of
importlib.metadata on every cold start; and the template turns plugins off for every
function."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bonestore_infra.template import Template

pytestmark = pytest.mark.unit

# A handler's start as the functions write it: the package first, then models.
PROBE = """
import json, sys
IMPORT_BONESTORE
from pydantic import BaseModel

class Line(BaseModel):
    sku: str
    quantity: int

line = Line.model_validate({"sku": "TRUEOSTEO-120", "quantity": "2"})
from pydantic.plugin._loader import get_plugins
print(json.dumps({
    "quantity": line.quantity,
    "plugins": len(list(get_plugins())),
    "metadata_imported": "importlib.metadata" in sys.modules,
}))
"""


def probe(disable: str | None, import_bonestore: bool = True) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if disable is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = disable
    code = PROBE.replace("IMPORT_BONESTORE", "import bonestore" if import_bonestore else "")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("disable", ["__all__", "1", "true"])
def test_with_plugins_off_models_build_without_importing_the_metadata(disable: str) -> None:
    seen = probe(disable)
    assert seen == {"quantity": 2, "plugins": 0, "metadata_imported": False}


def test_pydantic_own_loader_gives_the_same_answer_and_pays_the_import() -> None:
    # What the stand-in replaces: with plugins off pydantic's loader finds none either,
    # but imports importlib.metadata to say so.
    assert probe("__all__", import_bonestore=False) == {
        "quantity": 2,
        "plugins": 0,
        "metadata_imported": True,
    }


@pytest.mark.parametrize("disable", [None, "some_plugin"])
def test_otherwise_pydantic_discovers_its_plugins_as_usual(disable: str | None) -> None:
    # Unset, or naming plugins to skip: pydantic's loader reads the installed
    # distributions' entry points (the stand-in would hide a plugin someone installed).
    assert probe(disable)["metadata_imported"] is True


def test_the_template_turns_plugins_off_for_every_function() -> None:
    functions = Template().functions()
    assert functions
    for name, fn in functions.items():
        assert fn.environment.get("PYDANTIC_DISABLE_PLUGINS") == "__all__", name
