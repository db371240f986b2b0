"""What one process needs to run use cases: settings, the database pool, the Twilio gateway."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from smsrelay.settings import Settings
from smsrelay.store.db import make_pool
from smsrelay.twilio.gateway import TwilioGateway


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    pool: AsyncConnectionPool
    gateway: TwilioGateway
    extras: dict = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, database_url: str, *, pool_size: int = 10, name: str = "smsrelay") -> "Runtime":
        return cls(
            settings=settings,
            database_url=database_url,
            pool=make_pool(database_url, max_size=pool_size, name=name),
            gateway=TwilioGateway.from_settings(settings),
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.gateway.close()
        await self.pool.close()
