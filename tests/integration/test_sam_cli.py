"""The SAM CLI's own verdict on template.yaml: validate --lint, and the arm64 build.

`make sam-check` (part of `make test`) runs `sam build` before pytest; the build test
checks what it produced and is skipped when there is no build yet.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bonestore_infra.template import REPO_ROOT, Template

pytestmark = pytest.mark.integration

BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"


def sam_cli() -> str:
    candidates = [os.environ.get("SAM_CLI"), str(REPO_ROOT / ".sam-venv" / "bin" / "sam")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("sam")
    if found is None:
        pytest.skip("SAM CLI not installed (make .sam-venv/bin/sam)")
    return found


def run_sam(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        [sam_cli(), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("config_env", ["default", "dev", "prod"])
def test_sam_validate_lint(config_env: str) -> None:
    result = run_sam(
        "validate", "--lint", "--template", "template.yaml", "--config-env", config_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def assert_byte_compiled(root: Path) -> None:
    """Every module has a Python 3.13 .pyc that needs no source timestamp check: /opt is
    read-only in Lambda, so whatever is missing is recompiled at each cold start."""
    tag = sys.implementation.cache_tag
    assert tag == "cpython-313", "build with Python 3.13"
    sources = list(root.rglob("*.py"))
    assert len(sources) > 500, "the layer holds the dependencies too"
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.is_file(), f"no .pyc for {source.relative_to(root)}"
        header = compiled.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, compiled
        # PEP 552 flags: 0b01 = hash-based and unchecked.
        assert int.from_bytes(header[4:8], "little") == 0b01, compiled


def test_build_is_arm64_with_the_layer() -> None:
    built = BUILD_DIR / "template.yaml"
    if not built.is_file():
        pytest.skip("no `sam build` output yet (make sam-check builds it)")
    template = Template(built)
    layers = template.resources_of_type("AWS::Serverless::LayerVersion")
    assert layers, "the build has no layer"
    for logical_id, layer in layers.items():
        content = BUILD_DIR / layer["Properties"]["ContentUri"]
        assert (content / "python" / "bonestore" / "config.py").is_file(), logical_id
        assert (content / "python" / "bonestore" / "data" / "ruleset.yaml").is_file()
        assert not (content / "python" / "bonestore_infra").exists(), "tooling must not ship"
        natives = list((content / "python" / "pydantic_core").glob("*.so"))
        assert natives and all("aarch64" in p.name for p in natives), natives
        assert_byte_compiled(content / "python")
    for fn in template.functions().values():
        assert (BUILD_DIR / fn.code_uri / "app.py").is_file(), fn.logical_id
