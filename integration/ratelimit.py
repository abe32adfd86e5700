"""A request budget shared by every process that uses one API key.

KeyCRM counts requests per API key (60 a minute by default) whatever process sends them, so the
budget lives outside the process: in Redis when ``REDIS_URL`` is set, in the database otherwise.
Both keep the same promise: at most ``limit`` grants in any window of ``period`` seconds.

The window is a sliding log, not a token bucket: a token bucket allows a full burst right after
a full minute of traffic, which a counting limiter on the other side would answer with 429.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Protocol

import redis
from django.conf import settings
from django.db.models import Min
from django.utils.translation import gettext

from integration.models import RateSlot

# Grants are timed when given, requests arrive a little later; this margin keeps the last
# request of one window from being counted by the server in the next one.
_MAX_MARGIN_SECONDS = 1.0


class RateBudgetExhausted(Exception):
    """No slot became free within the caller's maximum wait."""


class RateBudget(Protocol):
    limit: int
    period: float

    def acquire(self, *, max_wait: float) -> float:
        """Block until a request may go out; return the seconds waited."""
        ...


def bucket_name(api_key: str) -> str:
    # The key itself never leaves the process: buckets are named by a hash of it.
    return "keycrm:" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:32]


def rate_budget_for(api_key: str, *, per_minute: int) -> RateBudget:
    period = float(settings.KEYCRM_RATE_WINDOW_SECONDS)
    bucket = bucket_name(api_key)
    if settings.REDIS_URL:
        return RedisRateBudget(bucket, limit=per_minute, period=period, url=settings.REDIS_URL)
    return DatabaseRateBudget(bucket, limit=per_minute, period=period)


def _effective_period(period: float) -> float:
    return period + min(_MAX_MARGIN_SECONDS, period * 0.05)


class DatabaseRateBudget:
    """N rows per bucket; a grant takes the least recently used slot if it is older than the
    window, with ``UPDATE … WHERE used_at <= cutoff`` so two processes never take one slot.

    Call it outside ``transaction.atomic``: inside one, the grant stays invisible (and other
    callers wait on its row) until the transaction ends.
    """

    def __init__(self, bucket: str, *, limit: int, period: float) -> None:
        self.bucket = bucket
        self.limit = limit
        self.period = period
        self._window = _effective_period(period)
        self._slots_ready = False

    def _ensure_slots(self) -> None:
        if self._slots_ready:
            return
        existing = RateSlot.objects.filter(bucket=self.bucket).count()
        if existing < self.limit:
            # ignore_conflicts: another process may be creating the same slots right now.
            RateSlot.objects.bulk_create(
                [RateSlot(bucket=self.bucket, slot=i) for i in range(self.limit)],
                ignore_conflicts=True,
            )
        self._slots_ready = True

    def acquire(self, *, max_wait: float) -> float:
        self._ensure_slots()
        started = time.monotonic()
        slots = RateSlot.objects.filter(bucket=self.bucket, slot__lt=self.limit)
        while True:
            now = time.time()
            cutoff = now - self._window
            candidate = (
                slots.filter(used_at__lte=cutoff).order_by("used_at").values_list("pk", flat=True)
                .first()
            )
            if candidate is not None:
                if RateSlot.objects.filter(pk=candidate, used_at__lte=cutoff).update(used_at=now):
                    return time.monotonic() - started
                continue  # somebody took it between our read and our write
            oldest = slots.aggregate(oldest=Min("used_at"))["oldest"] or now
            wait = max(0.005, oldest + self._window - now)
            _sleep_or_give_up(started, wait, max_wait)


_REDIS_ACQUIRE = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local member = ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.floor(window_us / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window_us - now
"""


class RedisRateBudget:
    """A sorted set of grant times per bucket, trimmed and checked in one Lua script, timed by
    the Redis server's clock so that hosts with drifting clocks still share one window."""

    def __init__(self, bucket: str, *, limit: int, period: float, url: str) -> None:
        self.bucket = bucket
        self.limit = limit
        self.period = period
        self._window_us = int(_effective_period(period) * 1_000_000)
        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_REDIS_ACQUIRE)

    def acquire(self, *, max_wait: float) -> float:
        started = time.monotonic()
        while True:
            wait_us = int(
                self._script(keys=[self.bucket],
                             args=[self.limit, self._window_us, uuid.uuid4().hex])
            )
            if wait_us <= 0:
                return time.monotonic() - started
            _sleep_or_give_up(started, max(0.005, wait_us / 1_000_000), max_wait)


def _sleep_or_give_up(started: float, wait: float, max_wait: float) -> None:
    if time.monotonic() - started + wait > max_wait:
        raise RateBudgetExhausted(gettext(
            "no request slot within %(seconds)s s: the account's budget is used up by other "
            "work; it will be retried") % {"seconds": f"{max_wait:.0f}"})
    time.sleep(wait)
