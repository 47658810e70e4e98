"""``python -m torrent_gateway_operator``: elect a leader (when configured), then run kopf.

With ``TGW_OPERATOR_LEADER_ELECTION_LEASE`` set, every replica competes for that Lease; only the
holder runs kopf (standalone: the Lease, not kopf's peering, decides who acts). Without it the
operator runs alone, as the chart's single-replica default with a Recreate strategy does.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from .config import OperatorConfig


def kopf_arguments(config: OperatorConfig) -> list[str]:
    argv = ["run", "--module", "torrent_gateway_operator.handlers", "--log-format", config.log_format]
    namespaces = config.namespace_list()
    if namespaces:
        for namespace in namespaces:
            argv += ["--namespace", namespace]
    else:
        argv.append("--all-namespaces")
    argv.append("--standalone")
    if config.liveness_port:
        argv += ["--liveness", f"http://{config.liveness_host}:{config.liveness_port}/healthz"]
    return argv


def _step_down() -> None:
    # Another replica may be acting already: stop now, without finishing anything (the kubelet
    # restarts the pod, which then waits as a standby).
    logging.shutdown()
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    import kopf.cli

    config = OperatorConfig()
    args = argv if argv is not None else kopf_arguments(config)
    if not config.leader_election_lease:
        kopf.cli.main(args=args, prog_name="torrent-gateway-operator")
        return 0

    from .leader import LeaseElector, LeaseSettings, default_identity, load_api, standby_probe

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    elector = LeaseElector(
        load_api(),
        LeaseSettings(
            namespace=config.leader_election_namespace,
            name=config.leader_election_lease,
            identity=default_identity(),
            duration=config.leader_election_lease_seconds,
            renew_deadline=config.leader_election_lease_seconds * 2 / 3,
            retry_period=config.leader_election_lease_seconds / 7,
        ),
    )
    with standby_probe(config.liveness_host, config.liveness_port):
        elector.wait_for_leadership()
    stop = threading.Event()
    elector.keep_renewing(lost=_step_down, stop=stop)
    try:
        kopf.cli.main(args=args, prog_name="torrent-gateway-operator")
    finally:
        stop.set()
        elector.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
