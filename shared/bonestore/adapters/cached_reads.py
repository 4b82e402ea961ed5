"""Values read from AWS at run time, cached per process for a few minutes: the Stripe
secret (Secrets Manager, ``secrets.py``) and the storefront URL (SSM, ``parameters.py``).

These reads were Powertools Parameters. Its package imports boto3 (and with it
s3transfer and multiprocessing) for its AppConfig and DynamoDB providers: ~42 ms of CPU
on checkout's and the webhook's cold start, after botocore is loaded (median of 9 in the
deployed layer, issue #14), for what the two reads used of it: a cache per name with a
maximum age. Their clients are made from the process's one botocore
session (``aws.py``), as the Powertools providers' were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

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
