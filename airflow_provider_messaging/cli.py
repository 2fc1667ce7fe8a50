"""The ``airflow-messaging`` console command."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

SANDBOX_MISSING = (
    "airflow-messaging sandbox needs the sandbox, a distribution of its own: install it with "
    "'pip install airflow-messaging-sandbox' (or 'pip install ./sandbox' from a checkout of this project)"
)


def _sandbox_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sandbox",
        help="serve a local stand-in for SignalWire and the WhatsApp Cloud API on loopback (needs the sandbox "
        "distribution)",
        description="Serve SignalWire's Compatibility Messages API, Relay and the WhatsApp Cloud API on loopback, "
        "with magic recipient numbers, fault knobs and a control API under /_sandbox/. The sandbox is its own "
        "distribution (airflow-messaging-sandbox); this command runs it when it is installed.",
    )
    try:
        from messaging_sandbox.cli import add_arguments
    except ImportError:
        p.set_defaults(func=_sandbox_missing)
        return
    add_arguments(p)
    p.set_defaults(func=_run_sandbox)


def _sandbox_missing(args: argparse.Namespace) -> int:
    print(SANDBOX_MISSING, file=sys.stderr)
    return 2


def _run_sandbox(args: argparse.Namespace) -> int:
    from messaging_sandbox.cli import run

    return run(args)


def _webhooks_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "webhooks",
        help="serve the webhook receiver on its own (it is also mounted in airflow api-server at /messaging)",
        description="Receive WhatsApp and SignalWire webhooks (statuses and inbound messages) and write them "
        "to the status store ([messaging] store_url), and record the answers people give by message to "
        "human-in-the-loop tasks. Secrets come from the Airflow connection named in the path.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8788, help="port (default 8788)")
    p.add_argument(
        "--store-url", default=None, help="SQLAlchemy URL of the store (default: [messaging] store_url)"
    )
    p.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off by default: at thousands of webhooks a second the access log costs "
        "more than the work; refusals and skipped events are logged either way)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving requests (default 1); each writes its own batches to the store",
    )
    p.set_defaults(func=_run_webhooks)


def _run_webhooks(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from .hitl.responder import start_responder
    from .store.store import MessageStore

    store = MessageStore(args.store_url)
    print(f"webhooks: writing to {store.describe()}", file=sys.stderr)
    start_responder(store)  # records answers given by message to human-in-the-loop questions
    # the app is built in each worker process from these (the store URL as given, or the default)
    os.environ[STORE_URL_VARIABLE] = store.url
    os.environ[NAME_VARIABLE] = f"{socket.gethostname()}:{args.port} (airflow-messaging webhooks)"
    uvicorn.run(
        "airflow_provider_messaging.cli:webhook_app", factory=True, host=args.host, port=args.port,
        workers=args.workers if args.workers > 1 else None, log_level="info", access_log=args.access_log,
    )  # fmt: skip
    return 0


STORE_URL_VARIABLE = "AIRFLOW__MESSAGING__STORE_URL"
NAME_VARIABLE = "AIRFLOW_MESSAGING_WEBHOOKS_NAME"


def webhook_app() -> object:
    """The receiver as ``airflow-messaging webhooks`` serves it (built in each worker process)."""
    import os

    from .store.store import MessageStore
    from .webhooks.receiver import create_webhook_app

    return create_webhook_app(store=MessageStore(os.environ.get(STORE_URL_VARIABLE)),
                              name=os.environ.get(NAME_VARIABLE, ""))  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-messaging",
        description="Tools of the Airflow messaging provider (SignalWire, WhatsApp).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _sandbox_parser(sub)
    _webhooks_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
