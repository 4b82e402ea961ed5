"""``bonestore catalog load FILE``: stock the store from a catalog file.

The file has the seed catalog's shape (``shared/bonestore/data/catalog.yaml``): a
``products`` list, in YAML or JSON. Every product is validated here first, with one
line per invalid product; nothing is sent if any is invalid unless ``--continue``
(then the valid ones are). Each valid product is then sent as ``PUT
/admin/products/{sku}`` as a staff member of the ``ops`` group (signed in as ``bonestore
support`` does it: ``--username``/``--password``, or ``--token``), printing
``created``, ``replaced`` or ``refused`` with the API's error code. ``--dry-run``
validates and sends nothing. Exits 0 when every product was stored, 1 when any was
invalid or refused (or on a connection error), 2 on bad usage or an unreadable file.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from bonestore_infra.support_cli import (
    CliError,
    api_url,
    bearer_token,
    request_json,
    staff_api_options,
)


def register(subparsers: Any) -> None:
    catalog = subparsers.add_parser("catalog", help="stock the store from a catalog file (ops)")
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    load = sub.add_parser(
        "load",
        parents=[staff_api_options()],
        help="validate a catalog file, then PUT /admin/products/{sku} each product",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("file", type=Path, help="catalog YAML or JSON with a `products` list")
    load.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    load.add_argument(
        "--continue",
        dest="keep_going",
        action="store_true",
        help="send the valid products even when some are invalid",
    )
    load.set_defaults(handler=load_command)


def read_catalog(path: Path) -> list[Any]:
    """The file's ``products`` list (YAML is a superset of JSON, so one parser reads both)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", exit_code=2) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not YAML or JSON: {exc}", exit_code=2) from None
    products = raw.get("products") if isinstance(raw, dict) else None
    if not isinstance(products, list):
        raise CliError(f"{path} has no `products` list", exit_code=2)
    return products


def validate(items: list[Any]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The valid products as ``(sku, body)`` and one message per invalid one."""
    from pydantic import ValidationError

    from bonestore.domain.catalog import Product

    valid: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        label = f"product {index}"
        if isinstance(item, dict) and isinstance(item.get("sku"), str):
            label += f" ({item['sku']})"
        try:
            product = Product.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'product'}: {e['msg']}"
                for e in exc.errors()
            )
            errors.append(f"invalid {label}: {problems}")
            continue
        if product.sku in seen:
            errors.append(f"invalid {label}: SKU {product.sku} appears more than once")
            continue
        seen.add(product.sku)
        valid.append((product.sku, product.model_dump(mode="json")))
    return valid, errors


def put_product(url: str, token: str, sku: str, body: dict[str, Any]) -> tuple[int, Any]:
    """``PUT /admin/products/{sku}``: the status and the JSON body (an error body too)."""
    path = f"/admin/products/{urllib.parse.quote(sku, safe='')}"
    return request_json("PUT", url + path, body, token=token)


def _refusal(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "code" in error:
        text = f"{status} {error['code']}: {error.get('message', '')}"
    else:
        text = f"{status}"
    if status == 401:
        text += " (the sign-in is missing, invalid or expired: sign in again)"
    elif status == 403:
        text += " (loading the catalog needs the ops group)"
    return text


def load_command(args: argparse.Namespace) -> int:
    try:
        return _load(args)
    except CliError as exc:
        print(f"bonestore catalog: {exc}", file=sys.stderr)
        return exc.exit_code


def _load(args: argparse.Namespace) -> int:
    valid, errors = validate(read_catalog(args.file))
    for message in errors:
        print(message, file=sys.stderr)
    if errors and not args.keep_going:
        print(
            f"{len(errors)} invalid product(s): nothing sent (fix them, or pass --continue "
            "to send the valid ones)",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        for sku, _ in valid:
            print(f"valid     {sku}")
        print(f"dry run: {len(valid)} valid, {len(errors)} invalid, nothing sent")
        return 1 if errors else 0
    url = api_url(args)
    print(f"API {url}", file=sys.stderr)
    token = bearer_token(args, url)
    counts = {"created": 0, "replaced": 0, "refused": 0}
    for index, (sku, body) in enumerate(valid):
        status, answer = put_product(url, token, sku, body)
        if status in (200, 201):
            outcome = "created" if status == 201 else "replaced"
            print(f"{outcome:<9} {sku}")
        else:
            outcome = "refused"
            print(f"refused   {sku}: {_refusal(status, answer)}")
        counts[outcome] += 1
        if status in (401, 403) and index + 1 < len(valid):
            # Every other product would be refused the same way: say so once.
            print(f"stopped: {len(valid) - index - 1} product(s) not sent")
            break
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"{summary}, {len(errors)} invalid")
    return 0 if not errors and counts["refused"] == 0 else 1
