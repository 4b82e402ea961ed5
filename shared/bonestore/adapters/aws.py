"""AWS clients from one botocore session per process: boto3 is not imported in Lambda.

The adapters use only botocore's low-level clients, which ``boto3.client`` merely wraps,
but importing boto3 costs ~13 ms of CPU per cold start in the deployed layer (its
``compat`` imports s3transfer; measured with ``make bench``). The clients made here
resolve credentials, region, retries and endpoints (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_DYNAMODB`` for moto or DynamoDB Local) exactly as boto3's do: that
is botocore's work in both.

One session serves every client of the process, so botocore's data files and endpoint
rules are loaded once (a second session reloads them: ~70 ms, see ``secrets.py``).
SnapStart keeps the session across restores (api/snapstart.py drops the clients, with
their connections): its loaded data files are what the snapshot is for, and the
credentials Lambda gives a restored environment are refreshable ones, renewed on expiry.
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
