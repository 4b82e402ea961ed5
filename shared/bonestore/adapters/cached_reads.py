"""Values read from AWS at run time, cached per process for a few minutes: the Stripe
secret (Secrets Manager, ``secrets.py``) and the storefront URL (SSM, ``parameters.py``).

These reads were Powertools Parameters. Its package imports boto3 (and with it
s3transfer and multiprocessing) for its AppConfig and DynamoDB providers: ~42 ms of CPU
on checkout's and the webhook's cold start, after botocore is loaded (median of 9 in the
deployed layer, issue #14), for what the two reads used of it: a cache per name with a
maximum age. :class:`AwsReads` is that cache with its service's client, made on first
use from the process's one botocore session (``aws.py``), as the Powertools providers'
were, and dropped with the values (SnapStart's after-restore hook, a new local stack).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class MaxAgeCache(Generic[T]):
    """Name -> value, fetched again once older than ``max_age`` seconds.

    Two threads missing at once (the local gateway's warm instances) may both fetch;
    each stores a value it read, so neither sees a wrong one."""

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._values: dict[str, tuple[float, T]] = {}  # name -> (fresh until, value)

    def get(self, name: str, fetch: Callable[[], T]) -> T:
        now = self._clock()
        found = self._values.get(name)
        if found is not None and now < found[0]:
            return found[1]
        value = fetch()  # a read that fails stores nothing: the next call reads again
        self._values[name] = (now + self._max_age, value)
        return value

    def clear(self) -> None:
        self._values.clear()


class AwsReads(Generic[T]):
    """One AWS service's client and the values read with it, cached by name for
    ``max_age`` seconds; :meth:`forget` drops both."""

    def __init__(self, service: str, max_age: float, client: Any = None) -> None:
        self._service = service
        self._client = client  # a test's stubbed client; else made on first use
        self.values: MaxAgeCache[T] = MaxAgeCache(max_age)

    def client(self) -> Any:
        if self._client is None:
            from bonestore.adapters.aws import aws_client

            self._client = aws_client(self._service)
        return self._client

    def forget(self) -> None:
        self.values.clear()
        self._client = None
