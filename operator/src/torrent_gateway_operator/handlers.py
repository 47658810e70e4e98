"""Every kopf handler of the operator, and nothing else: each one delegates to the reconciler.

- create / update / resume: one reconciliation pass (with pruning of children the spec no
  longer wants). An invalid spec → Degraded condition and ``PermanentError`` (nothing applied);
  a managed dependency not ready → Progressing and ``TemporaryError(delay=...)``.
- a timer re-applies every TorrentGateway to undo hand edits of its children (drift) and to
  refresh the status (ready replicas) without retrying forever on errors.
- delete: children removed in order (components before their data), behind a finalizer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from . import GROUP, PLURAL, VERSION
from .config import OperatorConfig
from .kube import KubeClient
from .reconciler import Outcome, Reconciler
from .status import merge_patch

CONFIG = OperatorConfig()
# One API client per operator process; its HTTP session is opened lazily in the running loop.
CLIENT = KubeClient(timeout=CONFIG.request_timeout)
RECONCILER = Reconciler(CLIENT, images=CONFIG.image_policy())


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Handler progress and the last handled spec live in our own annotations, never in status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    if CONFIG.watch_timeout:
        settings.watching.server_timeout = CONFIG.watch_timeout
        settings.watching.client_timeout = CONFIG.watch_timeout + 30
    settings.watching.connect_timeout = CONFIG.request_timeout
    settings.posting.level = logging.WARNING  # Kubernetes Events only for what a user must see
    # On deletion, wait for a running re-apply to finish instead of re-checking a minute later.
    settings.background.instant_exit_timeout = CONFIG.request_timeout
    settings.background.cancellation_polling = 5


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: its service account; elsewhere: the kubeconfig. The child client shares it."""
    info = kopf.login_with_service_account(settings=settings, **kwargs) or kopf.login_with_kubeconfig(
        settings=settings, **kwargs
    )
    if info is not None:
        await CLIENT.login(info)
    return info


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    await CLIENT.close()


def _lock(memo: kopf.Memo) -> asyncio.Lock:
    # The change handlers and the timer of one object never reconcile at the same time.
    lock = memo.get("reconcile_lock")
    if lock is None:
        lock = memo["reconcile_lock"] = asyncio.Lock()
    return lock


def _write_status(patch: kopf.Patch, body: kopf.Body, outcome: Outcome) -> None:
    delta = merge_patch(body.get("status") or {}, outcome.status)
    if delta:
        patch.setdefault("status", {}).update(delta)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    async with _lock(memo):
        outcome = await RECONCILER.reconcile(body, prune=True)
    _write_status(patch, body, outcome)
    if outcome.pruned:
        logger.info("pruned %s", ", ".join(f"{kind} {name}" for kind, name in outcome.pruned))
    if outcome.invalid is not None:
        raise kopf.PermanentError(f"invalid spec: {outcome.invalid}")
    if outcome.failed is not None:
        raise kopf.TemporaryError(outcome.failed, delay=CONFIG.error_retry_delay)
    if outcome.waiting is not None:
        raise kopf.TemporaryError(outcome.waiting, delay=CONFIG.dependency_retry_delay)
    logger.info("reconciled: %d children applied", len(outcome.applied))


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.resync_interval, initial_delay=CONFIG.resync_interval)
async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    async with _lock(memo):
        if body.metadata.get("deletionTimestamp"):
            return  # being torn down: re-applying now would resurrect children
        outcome = await RECONCILER.reconcile(body, prune=False)
    _write_status(patch, body, outcome)
    if outcome.failed is not None:
        logger.warning("re-apply failed: %s", outcome.failed)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def teardown(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    async with _lock(memo):
        removed = await RECONCILER.teardown(body)
    logger.info("removed %d children", len(removed))
