"""The deploy gates: what CloudFormation sees after the SAM transform, per environment.

`sam validate --lint` lints the SAM source; these translate the template with each
samconfig.toml environment's parameters (as `sam deploy` does) and lint the result,
and check that a change to the layer alone (a ruleset edit) reaches `live`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bonestore_infra import template_gates as gates
from bonestore_infra.template import DEFAULT_TEMPLATE, Template

pytestmark = pytest.mark.unit

ENVIRONMENTS = gates.samconfig_environments()


def _mutated(tmp_path: Path, old: str, new: str) -> Template:
    text = DEFAULT_TEMPLATE.read_text("utf-8")
    assert old in text, f"expected {old!r} in template.yaml"
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new), "utf-8")
    return Template(path)


def test_every_samconfig_environment_is_gated() -> None:
    assert {"default", "dev", "prod"} <= set(ENVIRONMENTS)
    assert ENVIRONMENTS["prod"]["Stage"] == "prod"
    assert ENVIRONMENTS["prod"]["StorefrontOrigin"] == "same-origin"


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_translated_template_passes_cfn_lint(environment: str) -> None:
    cfn = gates.transform(Template(), ENVIRONMENTS[environment])
    errors = gates.lint_translated(cfn) + gates.api_body_problems(cfn)
    assert errors == [], "\n".join(errors)


def test_a_layer_only_change_publishes_every_function() -> None:
    republished = gates.layer_change_republishes(Template())
    assert len(republished) == 9
    assert all(republished.values()), [f for f, fresh in republished.items() if not fresh]


# --- the gates fail on the template as it was before issue 16 -----------------------


def test_the_lint_gate_catches_the_distribution_api_cycle(tmp_path: Path) -> None:
    # Before: every function's STOREFRONT_ORIGIN (and the API's CORS) named the
    # distribution, whose API origin names the API.
    template = _mutated(
        tmp_path,
        "        STOREFRONT_ORIGIN: !Ref StorefrontOrigin\n",
        '        STOREFRONT_ORIGIN: !Sub "https://${StorefrontDistribution.DomainName}"\n',
    )
    errors = gates.lint_translated(gates.transform(template, ENVIRONMENTS["prod"]))
    assert any(e.startswith("E3004") and "StorefrontDistribution" in e for e in errors), errors


def test_the_layer_gate_catches_versions_that_ignore_the_layer(tmp_path: Path) -> None:
    # Before: no AutoPublishAliasAllProperties - SAM's version hash ignored Layers.
    template = _mutated(tmp_path, "      AutoPublishAliasAllProperties: true\n", "")
    republished = gates.layer_change_republishes(template)
    assert len(republished) == 9 and not any(republished.values()), republished


def test_the_layer_gate_needs_the_layer_to_opt_in(tmp_path: Path) -> None:
    template = _mutated(tmp_path, "      PublishLambdaVersion: true\n", "")
    assert not any(gates.layer_change_republishes(template).values())


def test_the_body_gate_catches_cors_behind_a_condition(tmp_path: Path) -> None:
    # SAM cannot drop Cors by a condition: it makes the whole Fn::If one header's value,
    # which cfn-lint does not see inside the API's Body.
    allow = """AllowOrigin: !Sub "'${StorefrontOrigin}'"
          AllowMethods: "'GET,POST,PUT,DELETE,OPTIONS'"
          AllowHeaders: "'Authorization,Content-Type,Idempotency-Key,X-Order-Token'"
          MaxAge: "'300'"
"""
    template = _mutated(
        tmp_path,
        """      Cors:
        AllowOrigin: !If [SameOrigin, !Ref AWS::NoValue, !Sub "'${StorefrontOrigin}'"]
        AllowMethods: "'GET,POST,PUT,DELETE,OPTIONS'"
        AllowHeaders: "'Authorization,Content-Type,Idempotency-Key,X-Order-Token'"
        MaxAge: "'300'"
""",
        "      Cors: !If\n        - SameOrigin\n        - !Ref AWS::NoValue\n        - " + allow,
    )
    cfn = gates.transform(template, ENVIRONMENTS["dev"])
    problems = gates.api_body_problems(cfn)
    assert any("Access-Control-Allow-Origin" in p for p in problems), problems
