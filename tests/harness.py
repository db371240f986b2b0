"""Kept only so that tests written on other branches against `tests.harness` still import:
the helpers live in tests/support/ (see tests/README.md). Import from there; this module
goes once nothing imports it."""

from tests.support.ports import free_port
from tests.support.postgres import DatabaseFactory, admin_database_url, with_database
from tests.support.servers import LoopThread, ThreadedServer
from tests.support.stack import Stack, build_stack
from tests.support.waiting import wait_until

__all__ = ["DatabaseFactory", "LoopThread", "Stack", "ThreadedServer", "admin_database_url", "build_stack",
           "free_port", "wait_until", "with_database"]
