"""AWS clients from one botocore session per process: boto3 is not imported in Lambda.

The adapters use only botocore's low-level clients, which ``boto3.client`` merely wraps,
but importing boto3 costs ~13 ms of CPU per cold start in the deployed layer (its
``compat`` imports s3transfer; measured with ``make bench``). The clients made here
resolve credentials, region, retries and endpoints (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_DYNAMODB`` for moto or DynamoDB Local) exactly as boto3's do: that
is botocore's work in both.

One session serves every client of the process, so botocore's data files and endpoint
rules are loaded once (a second session reloads them: ~70 ms, see ``secrets.py``).
A session caches the credentials it resolved, and every client it makes shares them.
After a SnapStart restore (api/snapstart.py) :func:`renew_session` replaces it, so each
restored environment resolves its own (AWS: cached credentials are otherwise "shared
across all execution environments restored from that snapshot"), while the new session
keeps the old one's data loader: the service models and endpoint rules the snapshot
loaded are what it is for (~7 ms to renew, against ~70 ms to load them again).
Client creation holds a lock: a botocore session is not safe to use from two threads at
once, and the local gateway runs warm instances as threads.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_lock = threading.Lock()


@cache
def _session() -> Any:
    from botocore.session import Session

    return Session()


def aws_client(service: str) -> Any:
    """A new botocore client for ``service`` (``"dynamodb"``, ``"sesv2"``...)."""
    with _lock:
        return _session().create_client(service)


def renew_session() -> None:
    """A new session, with no credentials resolved yet, on the old one's data loader."""
    with _lock:
        loader = _session().get_component("data_loader")
        _session.cache_clear()
        _session().register_component("data_loader", loader)
