"""Offline gates: template.yaml against the code it deploys, without an AWS account.

The template is translated to plain CloudFormation with aws-sam-translator (what
CloudFormation runs on deploy), then checked, per function:

* handler - ``Handler`` resolves to a callable in ``CodeUri``;
* environment - every variable the code reads is set, and none the code must not see;
* permissions - the role grants what the code calls and no more (read-only where it
  only reads, no table/secret/bus it does not use);
* routes - each Api event is served by the function's resolver, and back.

How "what the code uses" is derived: static analysis, no AWS and no test run. The
function module and every ``bonestore`` module it imports are parsed; from the
function module, definitions are followed by name (a call, a reference, or a
``Depends(provider)``) to the adapters' methods that actually run. There:

* DynamoDB calls are the client methods (``get_item``, ``transact_write_items``,
  ...) and the ``Put``/``Update``/``Delete``/``ConditionCheck`` items of a
  transaction; the table of each is found by following its ``TableName`` back
  (``self._orders`` -> ``__init__`` parameter -> the constructor call
  ``OrderRepository(client, settings.orders_table, ...)``) to a ``Settings`` field;
* settings are the ``Settings`` fields accessed, plus literal ``os.environ`` reads;
* a secret is read where Secrets Manager's ``get_secret_value`` is called, events are
  published where ``put_events`` is, and Powertools idempotency needs its table
  read-write.

Name-based following over-approximates (a method is assumed to run when a method
of that name is referenced and its class is used); a ``TableName`` that cannot be
traced to a ``Settings`` field is reported, never guessed.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import itertools
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from bonestore_infra.template import REPO_ROOT, FunctionDef, Template

SHARED_ROOT = REPO_ROOT / "shared"

# DynamoDB client methods -> IAM actions.
DYNAMODB_READ_CALLS = {
    "get_item": "dynamodb:GetItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "transact_get_items": "dynamodb:GetItem",
}
DYNAMODB_WRITE_CALLS = {
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
}
TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
DYNAMODB_READ_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:ConditionCheckItem",
}
# What Powertools' DynamoDBPersistenceLayer calls on the idempotency table.
IDEMPOTENCY_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
}
# Lambda sets these itself. Local-only, never deployed: STRIPE_API_BASE (the emulator),
# STOREFRONT_URL (in AWS the functions read the SSM parameter STOREFRONT_URL_PARAMETER
# names: a value naming the distribution would be a cycle).
RUNTIME_VARIABLES = {"AWS_REGION", "AWS_EXECUTION_ENV"}
FORBIDDEN_VARIABLES = {"STRIPE_API_BASE", "STOREFRONT_URL"}
# The ARN prefix of an SSM parameter in an IAM statement (the path follows).
SSM_PARAMETER_ARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
# The managed policy SAM attaches for logging (basic execution). Not X-Ray's: tracing is
# off (README.md#tracing), and a function granted it would be tracing without Tracer.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


@dataclass(frozen=True)
class Problem:
    function: str
    gate: str
    message: str

    def __str__(self) -> str:
        return f"{self.function} [{self.gate}]: {self.message}"


# --------------------------------------------------------------------------- template


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a policy is named;
    offline, none are known (the template uses policy templates and inline statements)."""

    def load(self) -> dict[str, str]:
        return {}


def _resolve_stage_intrinsics(value: Any, conditions: dict[str, bool]) -> Any:
    """AWS::LanguageExtensions' job, for DeletionPolicy / UpdateReplacePolicy: pick the branch."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, if_true, if_false = value["Fn::If"]
        return if_true if conditions.get(name, False) else if_false
    return value


def transform(
    template: Template,
    parameters: dict[str, str] | None = None,
    *,
    artifacts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform (offline).

    ``artifacts`` maps a function's or layer's logical id to the S3 URI `sam package`
    would give its built code (by default one fixed URI per resource): `sam package`
    names each upload by the hash of its content, so a different URI is what a code
    change looks like to the transform."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    from bonestore_infra.local_aws import IntrinsicResolver

    resolver = IntrinsicResolver(template, parameters)
    conditions = {name: resolver.condition(name) for name in template.doc.get("Conditions", {})}
    doc = copy.deepcopy(template.doc)
    transforms = doc.get("Transform")
    if isinstance(transforms, list):
        doc["Transform"] = next(t for t in transforms if t.startswith("AWS::Serverless"))
    for logical_id, resource in doc.get("Resources", {}).items():
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
            if attribute in resource:
                resource[attribute] = _resolve_stage_intrinsics(resource[attribute], conditions)
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):  # what `sam package` does after the build
            if isinstance(props.get(key), str):
                default = f"s3://bonestore-artifacts/{props[key].strip('/')}"
                props[key] = (artifacts or {}).get(logical_id, default)
    values: dict[str, Any] = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        **resolver.parameters,
    }
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    # The region comes from this session, never from the machine's AWS configuration.
    session = boto3.session.Session(region_name=values["AWS::Region"])
    to_py27_compatible_template(doc, values)
    translator = Translator(None, Parser(), boto_session=session)
    try:
        result = translator.translate(
            doc, parameter_values=values, get_managed_policy_map=_NoManagedPolicies().load
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(str(c) for c in exc.causes)
        raise ValueError(f"SAM transform failed: {causes}") from exc
    cfn: dict[str, Any] = undo_mark_unicode_str_in_template(result)
    return cfn


# --------------------------------------------------------------------------- deploy gates

SAMCONFIG = REPO_ROOT / "samconfig.toml"


def samconfig_environments(path: Path = SAMCONFIG) -> dict[str, dict[str, str]]:
    """Each samconfig.toml environment's deploy parameters: what `sam deploy` passes."""
    import tomllib

    config = tomllib.loads(path.read_text("utf-8"))
    environments: dict[str, dict[str, str]] = {}
    for name, commands in config.items():
        if not isinstance(commands, dict) or "deploy" not in commands:
            continue
        overrides = commands["deploy"].get("parameters", {}).get("parameter_overrides", [])
        if isinstance(overrides, str):
            overrides = overrides.split()
        environments[name] = dict(str(item).split("=", 1) for item in overrides)
    return environments


def lint_translated(cfn: dict[str, Any], region: str = "us-east-1") -> list[str]:
    """cfn-lint's errors (E...) on a translated template: what CloudFormation would refuse
    (a circular dependency, a bad property) that linting the SAM source cannot see."""
    import json

    from cfnlint.api import lint

    matches = lint(json.dumps(cfn), regions=[region])
    return [
        f"{m.rule.id} {m.message} ({m.path_string})" for m in matches if m.rule.id.startswith("E")
    ]


def _header_value_ok(value: Any) -> bool:
    """A mapped header is a quoted string, or an intrinsic whose every outcome is one."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return bool(arg == "AWS::NoValue")
        if key == "Fn::Sub":
            return isinstance(arg, str)
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            return _header_value_ok(arg[1]) and _header_value_ok(arg[2])
    return False


def api_body_problems(cfn: dict[str, Any]) -> list[str]:
    """Header mappings in each REST API's generated OpenAPI body that API Gateway would
    refuse. cfn-lint does not look inside ``Body``; SAM puts whatever it was given there
    (a condition around ``Cors`` becomes one header's value, a whole mapping)."""
    problems = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "responseParameters" and isinstance(value, dict):
                    for header, mapped in value.items():
                        if not _header_value_ok(mapped):
                            problems.append(f"{path}: {header} maps to {mapped!r}")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}/{index}")

    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::ApiGateway::RestApi":
            walk(resource["Properties"].get("Body", {}), logical_id)
    return problems


def function_versions(cfn: dict[str, Any]) -> dict[str, str]:
    """Function logical id -> the logical id of the AWS::Lambda::Version SAM publishes.

    CloudFormation publishes a new version only when this id changes (SAM hashes what
    it considers the function's content into it); CodeDeploy then shifts `live`."""
    versions = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Version":
            function = next(iter(_refs(resource["Properties"]["FunctionName"])))
            versions[function] = logical_id
    return versions


def layer_change_republishes(template: Template) -> dict[str, bool]:
    """Per function using a layer: does a layer-only change publish a new version?

    Two translations whose only difference is the layer's built package (as `sam
    package` names it: by content hash) must give every such function a new version."""
    layers = template.resources_of_type("AWS::Serverless::LayerVersion")
    before = {lid: f"s3://bonestore-artifacts/{lid}-0123456789abcdef" for lid in layers}
    after = {lid: f"s3://bonestore-artifacts/{lid}-fedcba9876543210" for lid in layers}
    old = function_versions(transform(template, artifacts=before))
    new = function_versions(transform(template, artifacts=after))
    users = {
        fid
        for fid, fn in template.resources_of_type("AWS::Serverless::Function").items()
        if _refs(fn.get("Properties", {}).get("Layers", template.globals.get("Layers", [])))
        & set(layers)
    }
    return {fid: old.get(fid) != new.get(fid) for fid in sorted(users)}


def deploy_problems(template: Template | None = None) -> dict[str, list[str]]:
    """What CloudFormation would refuse, per samconfig environment, plus the layer gate."""
    template = template or Template()
    problems = {}
    for name, parameters in samconfig_environments().items():
        cfn = transform(template, parameters)
        problems[name] = lint_translated(cfn) + api_body_problems(cfn)
    stale = [fid for fid, fresh in layer_change_republishes(template).items() if not fresh]
    problems["layer change"] = [
        f"{fid}: a layer-only change publishes no new version (the alias keeps the old layer)"
        for fid in stale
    ]
    return problems


@dataclass(frozen=True)
class Suppression:
    resource: str
    check: str
    comment: str


def checkov_suppressions(template: Template) -> list[Suppression]:
    """Every Checkov check skipped in the template (``Metadata: checkov: skip:``)."""
    found = []
    for logical_id, resource in template.resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            entry = skip if isinstance(skip, dict) else {"id": str(skip)}
            found.append(
                Suppression(logical_id, str(entry.get("id", "")), str(entry.get("comment", "")))
            )
    return found


def unexplained_suppressions(template: Template) -> list[str]:
    """Skips without a check id or without a reason a reviewer can judge."""
    return [
        f"{s.resource}: skip of {s.check or '(no id)'} has no reason"
        for s in checkov_suppressions(template)
        if not s.check.startswith("CKV") or len(s.comment.split()) < 4
    ]


def main() -> int:
    """`python -m bonestore_infra.template_gates`: the deploy gates, for `make sam-check`."""
    failed = 0
    for name, found in deploy_problems().items():
        print(f"deploy gate [{name}]: {len(found)} error(s)")
        for problem in found:
            print(f"  {problem}")
        failed += len(found)
    return 1 if failed else 0


# --------------------------------------------------------------------------- handlers

_module_counter = itertools.count()


def load_function_module(fn: FunctionDef) -> ModuleType:
    """Import a function's module the way Lambda (and `bonestore serve`) does: from its file."""
    path = fn.module_path
    if not path.is_file():
        raise FileNotFoundError(f"{fn.logical_id}: {path.relative_to(REPO_ROOT)} does not exist")
    name = f"bonestore_gate_{fn.logical_id}_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{fn.logical_id}: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        _forget_cold_start()
    return module


def _forget_cold_start() -> None:
    """Importing a handler reads Settings once; do not leave that cached for others."""
    from bonestore.config import get_settings

    get_settings.cache_clear()


def check_handler(fn: FunctionDef) -> list[Problem]:
    try:
        module = load_function_module(fn)
    except Exception as exc:
        return [Problem(fn.logical_id, "handler", f"{fn.handler} does not import: {exc!r}")]
    handler = getattr(module, fn.handler_name, None)
    if not callable(handler):
        return [
            Problem(
                fn.logical_id,
                "handler",
                f"{fn.module_path.relative_to(REPO_ROOT)} has no callable {fn.handler_name!r}",
            )
        ]
    return []


# --------------------------------------------------------------------------- code analysis


def _settings_fields() -> dict[str, str]:
    """Settings field name -> the environment variable it is read from."""
    from bonestore.config import Settings

    return dict(Settings.ENVIRONMENT)


def _table_fields() -> set[str]:
    return {name for name in _settings_fields() if name.endswith("_table")}


@dataclass
class _Def:
    """A function or method, or a module's top-level code (name None)."""

    module: str
    name: str | None
    node: ast.AST
    cls: str | None = None

    @property
    def params(self) -> list[str]:
        if not isinstance(self.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return []
        args = self.node.args
        return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]

    def walk(self) -> Iterator[ast.AST]:
        """The nodes of this definition, not of the functions/classes nested in module code."""
        if self.name is not None:
            yield from ast.walk(self.node)
            return
        assert isinstance(self.node, ast.Module)
        for stmt in self.node.body:
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from ast.walk(stmt)


@dataclass
class CodeUsage:
    """What one function's code does with AWS and its configuration."""

    tables: dict[str, set[str]] = field(default_factory=dict)  # Settings field -> IAM actions
    settings: set[str] = field(default_factory=set)  # Settings fields read
    environ: set[str] = field(default_factory=set)  # literal os.environ names
    powertools: set[str] = field(default_factory=set)  # POWERTOOLS_* variables
    reads_secret: bool = False
    publishes_events: bool = False
    sends_email: bool = False  # SES v2 SendEmail (bonestore.adapters.email)
    reads_parameter: bool = False  # SSM GetParameter (bonestore.adapters.parameters)
    unresolved: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def environment(self) -> set[str]:
        fields = _settings_fields()
        names = {fields[f] for f in self.settings if f in fields}
        return (names | self.environ | self.powertools) - RUNTIME_VARIABLES - FORBIDDEN_VARIABLES


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"), filename=str(path))


def _bonestore_module_path(name: str) -> Path | None:
    if name != "bonestore" and not name.startswith("bonestore."):
        return None
    base = SHARED_ROOT / name.replace(".", "/")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(tree: ast.Module, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    result: set[str] = set()
    for name in found:
        parts = name.split(".")
        result.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return result


def _module_closure(entry: Path) -> dict[str, ast.Module]:
    modules: dict[str, ast.Module] = {"__function__": _parse(entry)}
    todo = [("__function__", "")]
    while todo:
        name, package = todo.pop()
        for imported in sorted(_imports(modules[name], package)):
            path = _bonestore_module_path(imported)
            if path is None or imported in modules:
                continue
            modules[imported] = _parse(path)
            pkg = imported if path.name == "__init__.py" else imported.rsplit(".", 1)[0]
            todo.append((imported, pkg))
    return modules


def _referenced_names(nodes: Iterator[ast.AST]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


class _Analysis:
    IMPLICIT_METHODS = ("__init__", "__post_init__", "__call__", "__enter__", "__iter__")

    def __init__(self, entry: Path) -> None:
        self.modules = _module_closure(entry)
        self.functions: dict[str, list[_Def]] = {}
        self.classes: dict[str, list[tuple[str, ast.ClassDef]]] = {}
        self.methods: dict[str, list[_Def]] = {}
        for module, tree in self.modules.items():
            for stmt in tree.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions.setdefault(stmt.name, []).append(_Def(module, stmt.name, stmt))
                elif isinstance(stmt, ast.ClassDef):
                    self.classes.setdefault(stmt.name, []).append((module, stmt))
                    for item in stmt.body:
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            d = _Def(module, item.name, item, cls=stmt.name)
                            self.methods.setdefault(item.name, []).append(d)
        self.reached: list[_Def] = []
        self._reach()

    def _reach(self) -> None:
        seen: set[int] = set()
        used_classes: set[str] = set()
        names: set[str] = set()
        todo: list[_Def] = [_Def(m, None, tree) for m, tree in self.modules.items()]
        todo += [d for ds in self.functions.values() for d in ds if d.module == "__function__"]
        for ds in self.methods.values():
            todo += [d for d in ds if d.module == "__function__"]
        while todo:
            d = todo.pop()
            if id(d.node) in seen:
                continue
            seen.add(id(d.node))
            self.reached.append(d)
            new = _referenced_names(d.walk()) - names
            names |= new
            for name in new:
                todo += self.functions.get(name, [])
                if name in self.classes:
                    used_classes.add(name)
                    for module, cls in self.classes[name]:
                        body = ast.Module(body=[s for s in cls.body if not _is_def(s)])
                        todo.append(_Def(module, f"{name}.<body>", body, cls=name))
                        for item in cls.body:
                            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                                item.name in names or item.name in self.IMPLICIT_METHODS
                            ):
                                todo.append(_Def(module, item.name, item, cls=name))
                for method in self.methods.get(name, []):
                    if method.cls in used_classes:
                        todo.append(method)

    # ----- tracing a TableName expression back to a Settings field

    def _calls_to(self, d: _Def) -> Iterator[tuple[ast.Call, _Def]]:
        target = d.cls if d.name == "__init__" else d.name
        for caller in self.reached:
            for node in caller.walk():
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = func.id if isinstance(func, ast.Name) else None
                if isinstance(func, ast.Attribute):
                    called = func.attr
                if called == target:
                    yield node, caller

    def resolve(self, expr: ast.AST, d: _Def, depth: int = 0) -> set[str] | None:
        """The Settings table fields an expression can evaluate to; None when unknown."""
        if depth > 12:
            return None
        tables = _table_fields()
        if isinstance(expr, ast.Attribute) and expr.attr in tables:
            return {expr.attr}
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id == "self"
            and d.cls is not None
        ):
            return self._resolve_attribute(d.cls, expr.attr, depth)
        if isinstance(expr, ast.Name):
            return self._resolve_name(expr.id, d, depth)
        if isinstance(expr, ast.IfExp):
            a, b = self.resolve(expr.body, d, depth + 1), self.resolve(expr.orelse, d, depth + 1)
            return None if a is None or b is None else a | b
        return None

    def _resolve_attribute(self, cls: str, attr: str, depth: int) -> set[str] | None:
        found: set[str] = set()
        assigned = False
        for module, class_node in self.classes.get(cls, []):
            for item in class_node.body:
                if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                method = _Def(module, item.name, item, cls=cls)
                for node in ast.walk(item):
                    for target, value in _assignments(node):
                        if (
                            isinstance(target, ast.Attribute)
                            and isinstance(target.value, ast.Name)
                            and target.value.id == "self"
                            and target.attr == attr
                        ):
                            assigned = True
                            result = self.resolve(value, method, depth + 1)
                            if result is None:
                                return None
                            found |= result
        return found if assigned else None

    def _resolve_name(self, name: str, d: _Def, depth: int) -> set[str] | None:
        local: list[ast.AST] = [
            value
            for node in d.walk()
            for target, value in _assignments(node)
            if isinstance(target, ast.Name) and target.id == name
        ]
        if local:
            found: set[str] = set()
            for value in local:
                result = self.resolve(value, d, depth + 1)
                if result is None:
                    return None
                found |= result
            return found
        params = d.params
        if name not in params:
            return None
        index = params.index(name)
        offset = 1 if d.cls is not None and params and params[0] in ("self", "cls") else 0
        found = set()
        any_call = False
        for call, caller in self._calls_to(d):
            arg: ast.AST | None = next((k.value for k in call.keywords if k.arg == name), None)
            if arg is None and 0 <= index - offset < len(call.args):
                arg = call.args[index - offset]
            if arg is None:
                continue
            any_call = True
            result = self.resolve(arg, caller, depth + 1)
            if result is None:
                return None
            found |= result
        return found if any_call else None


def _is_def(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)


def _assignments(node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield target, node.value
    elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        yield node.target, node.value


def _where(d: _Def, node: ast.AST) -> str:
    module = "functions/<fn>/app.py" if d.module == "__function__" else d.module
    return f"{module}:{getattr(node, 'lineno', '?')}"


def _string_key(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def analyze_function(fn: FunctionDef) -> CodeUsage:
    analysis = _Analysis(fn.module_path)
    usage = CodeUsage(modules=sorted(m for m in analysis.modules if m != "__function__"))
    fields = set(_settings_fields())
    for d in analysis.reached:
        nodes = list(d.walk())
        calls = {
            n.func.attr
            for n in nodes
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        } | {n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        writes = any(c in DYNAMODB_WRITE_CALLS or c == "transact_write_items" for c in calls)

        for node in nodes:
            if isinstance(node, ast.Attribute) and node.attr in fields:
                usage.settings.add(node.attr)
            if isinstance(node, ast.Attribute) and node.attr == "Logger":
                usage.powertools |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}
            if isinstance(node, ast.Name) and node.id in ("Logger", "Metrics"):
                usage.powertools |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"}
                if node.id == "Metrics":
                    usage.powertools.add("POWERTOOLS_METRICS_NAMESPACE")
            usage.environ |= _environ_reads(node)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "get_secret_value":
                usage.reads_secret = True
            elif name == "put_events":
                usage.publishes_events = True
            elif name == "send_email":
                usage.sends_email = True
            elif name == "get_parameter":
                usage.reads_parameter = True
            elif name == "DynamoDBPersistenceLayer":
                arg = next((k.value for k in node.keywords if k.arg == "table_name"), None)
                if arg is None and node.args:
                    arg = node.args[0]
                _record(analysis, usage, d, node, arg, IDEMPOTENCY_ACTIONS)
            elif name in DYNAMODB_READ_CALLS or name in DYNAMODB_WRITE_CALLS:
                action = DYNAMODB_READ_CALLS.get(name) or DYNAMODB_WRITE_CALLS[str(name)]
                if name in ("batch_get_item", "batch_write_item"):
                    _record_batch(analysis, usage, d, node, action)
                    continue
                arg = next((k.value for k in node.keywords if k.arg == "TableName"), None)
                if arg is not None:
                    _record(analysis, usage, d, node, arg, {action})

        # TableName in dict literals: transaction items, or request dicts passed as **kwargs.
        for node in nodes:
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                item = _string_key(key)
                if item in TRANSACTION_ITEMS and isinstance(value, ast.Dict):
                    table = _dict_value(value, "TableName")
                    if table is not None:
                        _record(analysis, usage, d, value, table, {TRANSACTION_ITEMS[item]})
                elif item == "TableName" and not _is_transaction_item(node, nodes):
                    ops = {DYNAMODB_READ_CALLS[c] for c in calls if c in DYNAMODB_READ_CALLS}
                    ops |= {DYNAMODB_WRITE_CALLS[c] for c in calls if c in DYNAMODB_WRITE_CALLS}
                    if not ops and not writes:
                        continue
                    _record(analysis, usage, d, node, value, ops)
    return usage


def _dict_value(node: ast.Dict, wanted: str) -> ast.AST | None:
    for key, value in zip(node.keys, node.values, strict=True):
        if _string_key(key) == wanted:
            return value
    return None


def _is_transaction_item(node: ast.Dict, nodes: list[ast.AST]) -> bool:
    for parent in nodes:
        if isinstance(parent, ast.Dict):
            for key, value in zip(parent.keys, parent.values, strict=True):
                if value is node and _string_key(key) in TRANSACTION_ITEMS:
                    return True
    return False


def _environ_reads(node: ast.AST) -> set[str]:
    """Literal names read through os.environ[...] / os.environ.get(...) / os.getenv(...)."""

    def is_environ(expr: ast.AST) -> bool:
        return isinstance(expr, ast.Attribute) and expr.attr == "environ"

    if isinstance(node, ast.Subscript) and is_environ(node.value):
        key = _string_key(node.slice)
        return {key} if key else set()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        func = node.func
        if (func.attr == "get" and is_environ(func.value)) or func.attr == "getenv":
            key = _string_key(node.args[0]) if node.args else None
            return {key} if key else set()
    return set()


def _record(
    analysis: _Analysis,
    usage: CodeUsage,
    d: _Def,
    node: ast.AST,
    table_expr: ast.AST | None,
    actions: set[str],
) -> None:
    tables = analysis.resolve(table_expr, d) if table_expr is not None else None
    if not tables:
        usage.unresolved.append(
            f"{_where(d, node)}: cannot trace the table of {sorted(actions)} to a Settings field"
        )
        return
    for table in tables:
        usage.tables.setdefault(table, set()).update(actions)


def _record_batch(
    analysis: _Analysis, usage: CodeUsage, d: _Def, node: ast.Call, action: str
) -> None:
    items = next((k.value for k in node.keywords if k.arg == "RequestItems"), None)
    literals = [items] if isinstance(items, ast.Dict) else []
    if isinstance(
        items, ast.Name
    ):  # request = {self._table: {...}}; batch_get_item(RequestItems=request)
        literals = [
            value
            for n in d.walk()
            for target, value in _assignments(n)
            if isinstance(target, ast.Name)
            and target.id == items.id
            and isinstance(value, ast.Dict)
        ]
    keys = [key for literal in literals for key in literal.keys if key is not None]
    for key in keys:
        _record(analysis, usage, d, node, key, {action})
    if not keys:
        _record(analysis, usage, d, node, None, {action})


# --------------------------------------------------------------------------- checks


def _refs(value: Any) -> set[str]:
    """Logical ids a CloudFormation expression refers to (Ref, GetAtt, ${X} in Sub)."""
    import re

    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".")
                found.add(str(parts[0]))
            elif key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= (names - set(variables)) | _refs(variables)
            else:
                found |= _refs(arg)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_permissions(
    cfn: dict[str, Any], function_id: str
) -> tuple[dict[str, set[str]], list[str]]:
    """Allowed actions per resource logical id ("*" for wildcard resources), and the
    managed policies of the function's role."""
    resources = cfn["Resources"]
    role_ref = resources[function_id]["Properties"]["Role"]
    role_id = next(iter(_refs(role_ref)))
    role = resources[role_id]["Properties"]
    grants: dict[str, set[str]] = {}
    for policy in role.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            actions = {str(a) for a in _as_list(statement.get("Action", []))}
            for resource in _as_list(statement.get("Resource", [])):
                parameter = _ssm_parameter_path(resource)
                if parameter is not None:
                    grants.setdefault(f"ssm:{parameter}", set()).update(actions)
                    continue
                ids = _refs(resource) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
                if resource == "*" or not ids:
                    grants.setdefault("*", set()).update(actions)
                for logical_id in ids:
                    grants.setdefault(logical_id, set()).update(actions)
    return grants, [str(p) for p in role.get("ManagedPolicyArns", [])]


def _ssm_parameter_path(resource: Any) -> str | None:
    """``/stack/name`` of an ``!Sub`` SSM parameter ARN (as its template text), else None."""
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if isinstance(text, str) and text.startswith(SSM_PARAMETER_ARN + "/"):
        return text.removeprefix(SSM_PARAMETER_ARN)
    return None


def _parameter_problems(
    template: Template, fn: FunctionDef, grants: dict[str, set[str]], usage: CodeUsage
) -> tuple[set[str], list[Problem]]:
    """The storefront URL parameter: read by the code -> its name in
    STOREFRONT_URL_PARAMETER as an ``!Sub`` string (never a !Ref: that is the edge that
    makes the cycle), the parameter exists under that name, and ssm:GetParameter is
    granted on exactly its ARN; not read -> none of it."""
    fid = fn.logical_id
    granted = {rid for rid, acts in grants.items() if rid.startswith("ssm:")}
    named = fn.environment.get("STOREFRONT_URL_PARAMETER")
    path = named.get("Fn::Sub") if isinstance(named, dict) else None
    problems: list[Problem] = []
    if not usage.reads_parameter:
        if granted or named is not None:
            problems.append(
                Problem(fid, "permissions", "has SSM access or a parameter it never reads")
            )
        return granted, problems
    if not isinstance(path, str):
        problems.append(
            Problem(fid, "permissions", "reads the storefront URL parameter; STOREFRONT_URL_PARAMETER "
                    "must be its name as an !Sub string (a !Ref would make a cycle)")
        )  # fmt: skip
        return granted, problems
    names = {
        str((r.get("Properties") or {}).get("Name", {}).get("Fn::Sub"))
        for r in template.resources_of_type("AWS::SSM::Parameter").values()
        if isinstance((r.get("Properties") or {}).get("Name"), dict)
    }
    if path not in names:
        problems.append(Problem(fid, "permissions", f"no AWS::SSM::Parameter is named {path}"))
    if "ssm:GetParameter" not in grants.get(f"ssm:{path}", set()):
        problems.append(Problem(fid, "permissions", f"reads {path}; ssm:GetParameter not granted"))
    for rid in sorted(granted - {f"ssm:{path}"}):
        problems.append(Problem(fid, "permissions", f"SSM access on {rid} it does not read"))
    return granted, problems


def _env_target(fn: FunctionDef, variable: str) -> str | None:
    value = fn.environment.get(variable)
    refs = _refs(value) if value is not None else set()
    return next(iter(sorted(refs)), None)


def _secret_ids(template: Template, fn: FunctionDef) -> set[str]:
    """The AWS::SecretsManager::Secret resources named by the function's STRIPE_SECRET_NAME."""
    wanted = fn.environment.get("STRIPE_SECRET_NAME")
    return {
        logical_id
        for logical_id, res in template.resources_of_type("AWS::SecretsManager::Secret").items()
        if wanted is not None and res.get("Properties", {}).get("Name") == wanted
    }


def check_environment(template: Template, fn: FunctionDef, usage: CodeUsage) -> list[Problem]:
    problems = []
    for variable in sorted(usage.environment() - set(fn.environment)):
        problems.append(
            Problem(
                fn.logical_id,
                "environment",
                f"the code reads {variable}, the template does not set it",
            )
        )
    for variable in sorted(FORBIDDEN_VARIABLES & set(fn.environment)):
        problems.append(
            Problem(
                fn.logical_id, "environment", f"{variable} is local-only and must not be deployed"
            )
        )
    known = set(_settings_fields().values()) | RUNTIME_VARIABLES
    for variable in sorted(fn.environment):
        if variable not in known and not variable.startswith("POWERTOOLS_"):
            problems.append(
                Problem(fn.logical_id, "environment", f"{variable} is set but nothing reads it")
            )
    return problems


def check_permissions(
    template: Template, cfn: dict[str, Any], fn: FunctionDef, usage: CodeUsage
) -> list[Problem]:
    fid = fn.logical_id
    problems = [Problem(fid, "permissions", message) for message in usage.unresolved]
    grants, managed = granted_permissions(cfn, fid)
    for arn in sorted(set(managed) - ALLOWED_MANAGED_POLICIES):
        problems.append(Problem(fid, "permissions", f"unexpected managed policy {arn}"))
    fields = _settings_fields()
    tables = set(template.tables())
    needed: dict[str, set[str]] = {}
    for table_field, actions in usage.tables.items():
        variable = fields[table_field]
        target = _env_target(fn, variable)
        if target is None:
            problems.append(
                Problem(fid, "permissions", f"uses {variable} but it is not a !Ref to a table")
            )
            continue
        needed.setdefault(target, set()).update(actions)
    for table in sorted(tables):
        want, have = needed.get(table, set()), grants.get(table, set())
        missing = want - have
        if missing:
            problems.append(
                Problem(fid, "permissions", f"calls {sorted(missing)} on {table}; not granted")
            )
        if not want and have:
            problems.append(
                Problem(
                    fid, "permissions", f"granted {sorted(have)} on {table}, which it never uses"
                )
            )
        elif want and want <= DYNAMODB_READ_ACTIONS and have - DYNAMODB_READ_ACTIONS:
            extra = sorted(have - DYNAMODB_READ_ACTIONS)
            problems.append(
                Problem(
                    fid,
                    "permissions",
                    f"only reads {table} but is granted {extra} (use DynamoDBReadPolicy)",
                )
            )
    secrets = _secret_ids(template, fn)
    secret_grants = {
        rid: acts
        for rid, acts in grants.items()
        if any(a.startswith("secretsmanager:") for a in acts)
    }
    if usage.reads_secret:
        if not any("secretsmanager:GetSecretValue" in grants.get(s, set()) for s in secrets):
            problems.append(
                Problem(
                    fid,
                    "permissions",
                    "reads the Stripe secret; GetSecretValue on it is not granted",
                )
            )
        for rid in sorted(set(secret_grants) - secrets):
            problems.append(
                Problem(fid, "permissions", f"secret access on {rid} beyond its own secret")
            )
    elif secret_grants:
        problems.append(
            Problem(
                fid,
                "permissions",
                f"granted Secrets Manager access ({sorted(secret_grants)}) it never uses",
            )
        )
    bus = _env_target(fn, "EVENT_BUS_NAME")
    event_grants, event_problems = _one_target_grant(
        fid, grants, "events:PutEvents", bus, usage.publishes_events, "publishes events"
    )
    sender = _env_target(fn, "EMAIL_SENDER")
    email_grants, email_problems = _one_target_grant(
        fid, grants, "ses:SendEmail", sender, usage.sends_email, "sends email"
    )
    parameter_grants, parameter_problems = _parameter_problems(template, fn, grants, usage)
    problems += event_problems + email_problems + parameter_problems
    accounted = tables | secrets | set(secret_grants) | event_grants | email_grants
    accounted |= parameter_grants
    accounted |= _failure_destinations(template, fn)
    polled = _polled_queues(template, fn)
    for rid in sorted(polled):
        beyond = set(grants.get(rid, ())) - SQS_POLLER_ACTIONS
        if beyond:
            problems.append(
                Problem(fid, "permissions", f"grant {sorted(beyond)} on polled queue {rid}")
            )
    accounted |= polled
    for rid, actions in sorted(grants.items()):
        if rid not in accounted:
            problems.append(
                Problem(fid, "permissions", f"unexplained grant {sorted(actions)} on {rid}")
            )
    return problems


def _one_target_grant(
    fid: str,
    grants: dict[str, set[str]],
    action: str,
    target: str | None,
    used: bool,
    doing: str,
) -> tuple[set[str], list[Problem]]:
    """An action the code uses on one resource (its bus, its sender identity): granted on
    that resource when used, on nothing else, and not at all when unused."""
    granted = {rid for rid, acts in grants.items() if action in acts}
    problems = []
    if used:
        if target is None or target not in granted:
            problems.append(
                Problem(fid, "permissions", f"{doing}; {action} on {target} not granted")
            )
        for rid in sorted(granted - {target} if target else granted):
            problems.append(Problem(fid, "permissions", f"{action} on {rid} it does not use"))
    elif granted:
        problems.append(
            Problem(fid, "permissions", f"granted {action} ({sorted(granted)}) it never uses")
        )
    return granted, problems


# What Lambda's SQS event source mapping does with the function's role (AWS Lambda
# Developer Guide, "Using Lambda with Amazon SQS": execution role permissions).
SQS_POLLER_ACTIONS = frozenset(
    {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
)


def _polled_queues(template: Template, fn: FunctionDef) -> set[str]:
    """Queues an ``AWS::Lambda::EventSourceMapping`` feeds to the function (or its alias)."""
    queues: set[str] = set()
    for mapping in template.resources_of_type("AWS::Lambda::EventSourceMapping").values():
        props = mapping.get("Properties", {})
        target = {ref.split(".")[0] for ref in _refs(props.get("FunctionName"))}
        if fn.logical_id in target:
            queues |= _refs(props.get("EventSourceArn"))
    return queues


def _failure_destinations(template: Template, fn: FunctionDef) -> set[str]:
    """Queues the function's asynchronous invocations may fail into (EventInvokeConfig)."""
    props = template.resources[fn.logical_id].get("Properties", {})
    config = props.get("EventInvokeConfig", {}).get("DestinationConfig", {})
    return _refs(config)


def function_routes(module: ModuleType) -> set[tuple[str, str]]:
    """(METHOD, /path/{param}) served by a module's router (its OpenAPI document); empty without one."""
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_openapi_schema"):
        return set()
    import json

    schema = json.loads(app.get_openapi_json_schema())
    return {
        (method.upper(), path)
        for path, item in schema.get("paths", {}).items()
        for method in item
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
    }


def check_routes(template: Template, fn: FunctionDef) -> list[Problem]:
    declared = {(r.method, r.path) for r in template.routes() if r.function_id == fn.logical_id}
    try:
        served = function_routes(load_function_module(fn))
    except Exception as exc:
        return [Problem(fn.logical_id, "routes", f"cannot import the handler: {exc!r}")]
    problems = [
        Problem(
            fn.logical_id, "routes", f"template routes {m} {p} here, the code does not serve it"
        )
        for m, p in sorted(declared - served)
    ]
    problems += [
        Problem(
            fn.logical_id,
            "routes",
            f"the code serves {m} {p}, the template has no Api event for it",
        )
        for m, p in sorted(served - declared)
    ]
    return problems


def run_all(template: Template | None = None) -> list[Problem]:
    """Every gate for every function (what `pytest -m unit` checks, in one call)."""
    template = template or Template()
    cfn = transform(template)
    problems: list[Problem] = []
    for fn in template.functions().values():
        problems += check_handler(fn)
        if not fn.module_path.is_file():
            continue
        usage = analyze_function(fn)
        problems += check_environment(template, fn, usage)
        problems += check_permissions(template, cfn, fn, usage)
        problems += check_routes(template, fn)
    return problems


if __name__ == "__main__":
    sys.exit(main())
