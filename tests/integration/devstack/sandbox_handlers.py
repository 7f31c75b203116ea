"""Handlers for the sandbox tests, imported by name in the worker processes."""

from __future__ import annotations

import os
import time
from typing import Any


class Refused(ValueError):
    pass


def where(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps `event["seconds"]` (default none), then says which process and function ran it."""
    time.sleep(event.get("seconds", 0))
    return {"pid": os.getpid(), "function": context.function_name, "echo": event.get("echo")}


def refuse(event: dict[str, Any], context: Any) -> None:
    raise Refused(f"refused {event['why']}")
