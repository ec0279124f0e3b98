"""`seldon-core-microservice`, bound to one host (127.0.0.1 by default) instead of 0.0.0.0.

seldon-core 1.19 hard-codes 0.0.0.0 for its three servers (REST and metrics through gunicorn,
gRPC through grpcio) and has no option or environment variable to change it: see `bind` in
`_make_rest_server_prod`/`_make_rest_metrics_server`, `bind_address` in `_make_grpc_server` and
`_reserve_grpc_port` in seldon_core/microservice.py. Inside a pod that is right; on a laptop or
CI machine it exposes the model to the network. This entry point runs the unmodified wrapper with
narrow hooks that only change the host part of those addresses, and refuses debug mode, whose
Flask development servers (REST and metrics) bind 0.0.0.0 too. Whether debug is asked for is
decided by Seldon's own `parse_args` (so `--deb`, `--debug=0` and `SELDON_DEBUG=t` count exactly
as they do for Seldon), and the Flask servers' `run` is rebound to the host as well, so debug could
not reach beyond it even if it got past that check. It also turns off gunicorn 26's control
socket, which would otherwise be one shared file in $HOME for every server on the machine, and
gives the wrapper `BatchedSeldonMetrics` (batched_metrics.py) instead of its per-request metrics store.

Usage: python -m fraud_assets.deployment.microservice <seldon-core-microservice arguments>
with FRAUD_SERVING_HOST=127.0.0.1 (the default).
"""

from __future__ import annotations

import contextlib
import socket
import sys

from seldon_core import microservice
from seldon_core import wrapper as seldon_wrapper
from seldon_core.gunicorn_utils import StandaloneApplication

from fraud_assets import settings
from fraud_assets.deployment.batched_metrics import BatchedSeldonMetrics

HOST_ENV = "FRAUD_SERVING_HOST"
DEFAULT_HOST = "127.0.0.1"
DEBUG_REFUSED = (
    "fraud_assets.deployment.microservice: debug mode (asked for by --debug or SELDON_DEBUG) runs "
    "Flask's development server on 0.0.0.0; not allowed"
)


def rehost(address: str, host: str) -> str:
    """'0.0.0.0:9000' -> '127.0.0.1:9000'."""
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"cannot rebind {address!r}: expected HOST:PORT")
    return f"{host}:{port}"


def bind_servers_to(host: str) -> None:
    """Point the wrapper's REST, metrics and gRPC servers (gunicorn, grpcio and Flask's debug servers) at `host`."""
    load_gunicorn_config = StandaloneApplication.load_config

    def load_config(self) -> None:
        load_gunicorn_config(self)
        self.cfg.set("bind", [rehost(address, host) for address in self.cfg.bind])
        self.cfg.set("control_socket_disable", True)

    StandaloneApplication.load_config = load_config

    run_grpc_server = microservice._run_grpc_server

    def run_grpc_server_on_host(user_object, seldon_metrics, args, annotations, bind_address):
        run_grpc_server(user_object, seldon_metrics, args, annotations, rehost(bind_address, host))

    @contextlib.contextmanager
    def reserve_grpc_port(grpc_port: int):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, grpc_port))
            yield sock.getsockname()[1]

    microservice._run_grpc_server = run_grpc_server_on_host
    microservice._reserve_grpc_port = reserve_grpc_port

    for factory in ("get_rest_microservice", "get_metrics_microservice"):
        setattr(seldon_wrapper, factory, flask_apps_run_on(host, getattr(seldon_wrapper, factory)))


def flask_apps_run_on(bound_host: str, make_app):
    """`make_app` whose apps' `run` serves on `bound_host` whatever host it is given (Seldon's debug servers
    give "0.0.0.0")."""

    def make_app_on_host(*args, **kwargs):
        app = make_app(*args, **kwargs)
        run = app.run

        def run_on_host(host=None, port=None, **options) -> None:
            run(bound_host, port, **options)

        app.run = run_on_host
        return app

    return make_app_on_host


def refuse_debug() -> None:
    """Exit if Seldon would start in debug mode: the decision is its own `parse_args` on the same argv and
    environment, so every spelling it accepts is refused."""
    args, _ = microservice.parse_args()
    if args.debug:
        sys.exit(DEBUG_REFUSED)


def main() -> None:
    refuse_debug()
    bind_servers_to(settings.load().serving_host)
    microservice.SeldonMetrics = BatchedSeldonMetrics
    microservice.main()


if __name__ == "__main__":
    main()
