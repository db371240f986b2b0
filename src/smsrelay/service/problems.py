"""Errors a use case reports to its caller: a machine-readable code, a message, an HTTP status."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


def not_found(what: str = "message") -> Problem:
    # Another org's resource answers exactly like a missing one: its existence is not ours to reveal.
    return Problem(404, "not_found", f"No such {what}.")
