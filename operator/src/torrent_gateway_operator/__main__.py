"""``python -m torrent_gateway_operator``: run kopf with the handlers and the env-configured options."""

from __future__ import annotations

import sys

from .config import OperatorConfig


def kopf_arguments(config: OperatorConfig) -> list[str]:
    argv = ["run", "--module", "torrent_gateway_operator.handlers", "--log-format", config.log_format]
    namespaces = config.namespace_list()
    if namespaces:
        for namespace in namespaces:
            argv += ["--namespace", namespace]
    else:
        argv.append("--all-namespaces")
    if config.peering:
        argv += ["--peering", config.peering]
    else:
        argv.append("--standalone")
    if config.liveness_port:
        argv += ["--liveness", f"http://{config.liveness_host}:{config.liveness_port}/healthz"]
    return argv


def main(argv: list[str] | None = None) -> int:
    import kopf.cli

    kopf.cli.main(
        args=argv if argv is not None else kopf_arguments(OperatorConfig()),
        prog_name="torrent-gateway-operator",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
