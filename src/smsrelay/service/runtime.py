"""What one process needs to run use cases: settings, the database pool, the Twilio gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool

from smsrelay.settings import Settings
from smsrelay.store.db import make_pool

if TYPE_CHECKING:
    from smsrelay.twilio.gateway import TwilioGateway


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool
    extras: dict = field(default_factory=dict)
    _gateway: TwilioGateway | None = None

    @classmethod
    def create(cls, settings: Settings, database_url: str, *, pool_size: int = 10, name: str = "smsrelay") -> "Runtime":
        return cls(settings=settings, database_url=database_url,
                   pool=make_pool(database_url, max_size=pool_size, name=name))

    @property
    def gateway(self) -> TwilioGateway:
        # Built on first use: the Twilio SDK and aiohttp take a quarter of a second to import,
        # which an operator's `smsrelay incident status` (database only) should not pay.
        if self._gateway is None:
            from smsrelay.twilio.gateway import TwilioGateway

            self._gateway = TwilioGateway.from_settings(self.settings)
        return self._gateway

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._gateway is not None:
            await self._gateway.close()
        await self.pool.close()
