"""Liveness, readiness, the health summary and Prometheus metrics of the gateway process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .deps import ServicesDep

router = APIRouter(tags=["health"])
PROBE_TIMEOUT = 3.0


async def _probe(name: str, check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT)
    except Exception as exc:  # any failure of a probe is a health finding, not a server error
        return {"name": name, "score": 0, "ok": False, "error": type(exc).__name__}
    latency = time.perf_counter() - started
    # Full marks up to 100 ms, then one point lost per 10 ms, never below 50 while it answers.
    score = 100 if latency <= 0.1 else max(50, 100 - int((latency - 0.1) * 1000 / 10))
    return {"name": name, "score": score, "ok": True, "latency_ms": round(latency * 1000, 2)}


async def component_health(services: Any) -> list[dict[str, Any]]:
    probes = [("storage", services.store.ping), ("state", services.state.ping)]
    for name, probe in services.extras.get("health_probes", {}).items():
        probes.append((name, probe))
    return list(await asyncio.gather(*(_probe(name, check) for name, check in probes)))


@router.get("/healthz", include_in_schema=False)
async def healthz() -> PlainTextResponse:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


@router.get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response:
    """Readiness: the object store and the state store answer."""
    results = await component_health(services)
    ready = all(r["ok"] for r in results if r["name"] in ("storage", "state"))
    return PlainTextResponse("ready" if ready else "not ready", status_code=200 if ready else 503)


@router.get("/api/health")
async def health(services: ServicesDep) -> JSONResponse:
    """Every component's 0–100 score; 503 when a required component is down."""
    results = await component_health(services)
    score = min((r["score"] for r in results), default=100)
    status = "ok" if score >= services.settings.monitoring.alert_threshold else "degraded"
    if any(not r["ok"] for r in results if r["name"] in ("storage", "state")):
        status = "down"
    return JSONResponse(
        {"status": status, "score": score, "components": {r["name"]: r for r in results}},
        status_code=503 if status == "down" else 200,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
