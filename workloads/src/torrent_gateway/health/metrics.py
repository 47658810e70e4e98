"""Prometheus metrics of the health system (default registry): the latest score per component and
the alerts raised and resolved. Module-level, so one process registers them once however many apps
it builds (tests build many).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HEALTH_SCORE = Gauge("tgw_health_score", "Latest 0-100 health score per component", ["component"])
ALERTS = Counter("tgw_health_alerts_total", "Health alerts raised and resolved", ["component", "status"])
