"""Composition: which components run in this process and how they are wired together.

``serve`` puts every component into one ASGI app and one event loop; the component commands
build just one. This is the only module that knows every component.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .config import Settings
from .gateway.app import create_app
from .services import Services, build_services


def build_serve_app(settings: Settings) -> Any:
    """Gateway + web UI + every enabled component in one ASGI app."""
    services = build_services(settings)
    app = create_app(settings, services, extensions=_serve_extensions(settings))
    _own_services(app, services)
    return app


def _serve_extensions(settings: Settings) -> list[Any]:
    return []


def _own_services(app: FastAPI, services: Services) -> None:
    """The serve app built the services itself, so it closes them at shutdown."""
    services.extras.setdefault("shutdown", []).insert(0, services.close)


def build_component_app(name: str, settings: Settings) -> tuple[Any, str, int]:
    """(ASGI app, host, port) of one component, as the operator starts it."""
    if name == "gateway":
        return build_serve_app(settings), settings.gateway.host, settings.gateway.port
    raise SystemExit(f"component {name!r} is not available in this build")
