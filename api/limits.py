"""Rate limits on the public endpoints, per client address and per phone (the `limits`
library, in memory: one `serve` process keeps its own counts). 429 with Retry-After."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from slotqueue.api.errors import Problem


class RateLimits:
    def __init__(self, per_ip: str, per_phone: str) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip, self.per_phone = parse(per_ip), parse(per_phone)

    def _hit(self, item: object, *keys: str) -> None:
        if self.limiter.hit(item, *keys):  # type: ignore[arg-type]
            return
        reset, _ = self.limiter.get_window_stats(item, *keys)  # type: ignore[arg-type]
        wait = max(1, int(reset - time.time()) + 1)
        raise Problem(429, f"too many requests: {item}; try again in {wait} s",
                      headers={"Retry-After": str(wait)})

    def address(self, host: str) -> None:
        self._hit(self.per_ip, "ip", host)

    def phone(self, phone: str) -> None:
        self._hit(self.per_phone, "phone", phone)
