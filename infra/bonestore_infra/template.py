"""Read template.yaml: the one source of truth for routes, tables and function settings.

The local server and the tests learn from here what API Gateway and CloudFormation
will build in AWS, so adding a route or a table to the template is all it takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsics (!Ref, !Sub, ...)."""


def _construct_intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # API Gateway resource path, e.g. /products/{sku}
    function_id: str  # logical id of the function
    event_id: str
    authorizer: str | None  # e.g. CognitoAuthorizer, or None for public

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                regex += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                regex += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                regex += re.escape(part)
        return re.compile(f"^{regex}/?$")

    @property
    def specificity(self) -> tuple[int, int]:
        """API Gateway prefers literal segments over parameters, and parameters over greedy ones."""
        segments = self.path.strip("/").split("/")
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (-greedy, literal)


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    timeout: int = 3
    memory_size: int = 128

    @property
    def module_path(self) -> Path:
        module, _ = self.handler.rsplit(".", 1)
        return REPO_ROOT / self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


class Template:
    def __init__(self, path: Path = DEFAULT_TEMPLATE) -> None:
        self.path = path
        self.doc: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=_CfnLoader)  # noqa: S506
        self.resources: dict[str, dict[str, Any]] = self.doc.get("Resources", {})
        self.globals: dict[str, Any] = self.doc.get("Globals", {}).get("Function", {})

    def resources_of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == type_name}

    def functions(self) -> dict[str, FunctionDef]:
        result = {}
        for logical_id, resource in self.resources_of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            env = dict(self.globals.get("Environment", {}).get("Variables", {}))
            env.update(props.get("Environment", {}).get("Variables", {}))
            result[logical_id] = FunctionDef(
                logical_id=logical_id,
                code_uri=props.get("CodeUri", self.globals.get("CodeUri", ".")),
                handler=props.get("Handler", self.globals.get("Handler", "app.lambda_handler")),
                environment=env,
                timeout=int(props.get("Timeout", self.globals.get("Timeout", 3))),
                memory_size=int(props.get("MemorySize", self.globals.get("MemorySize", 128))),
            )
        return result

    def _default_authorizer(self, api_id: str | None) -> str | None:
        apis = self.resources_of_type("AWS::Serverless::Api")
        if api_id is None or api_id not in apis:
            return None
        auth = apis[api_id].get("Properties", {}).get("Auth", {})
        default: str | None = auth.get("DefaultAuthorizer")
        return default

    def routes(self) -> list[Route]:
        routes = []
        for logical_id, resource in self.resources_of_type("AWS::Serverless::Function").items():
            for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties", {})
                api = props.get("RestApiId", {})
                api_id = api.get("Ref") if isinstance(api, dict) else None
                authorizer = props.get("Auth", {}).get(
                    "Authorizer", self._default_authorizer(api_id)
                )
                if authorizer == "NONE":
                    authorizer = None
                method = str(props["Method"]).upper()
                routes.append(Route(method, props["Path"], logical_id, event_id, authorizer))
        return sorted(routes, key=lambda r: r.specificity, reverse=True)

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources_of_type("AWS::DynamoDB::Table").items()
        }
