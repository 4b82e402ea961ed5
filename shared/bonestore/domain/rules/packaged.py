"""The packaged default ruleset's file: where it is and its text. A module of its own so
that both the loader (which parses it) and the compiled artifact's check (which only
hashes it, on every cold start) read it the same way, and a cold start that decides from
the artifact imports neither the loader nor PyYAML (issue #14)."""

from __future__ import annotations

from importlib import resources

DEFAULT_RULESET = "data/ruleset.yaml"  # inside the bonestore package
DEFAULT_RULESET_NAME = f"bonestore/{DEFAULT_RULESET}"  # as errors and lint name it


def packaged_ruleset_text() -> str:
    return resources.files("bonestore").joinpath(DEFAULT_RULESET).read_text("utf-8")
