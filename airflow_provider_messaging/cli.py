"""The ``airflow-messaging`` console command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _sandbox_parser(sub: argparse._SubParsersAction) -> None:
    from .sandbox.config import SandboxConfig

    d = SandboxConfig()
    p = sub.add_parser(
        "sandbox",
        help="serve a local stand-in for SignalWire and the WhatsApp Cloud API on loopback",
        description="Serve SignalWire's Compatibility Messages API and the WhatsApp Cloud API on loopback, "
        "with magic recipient numbers, fault knobs and a control API under /_sandbox/.",
    )
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host})")
    p.add_argument("--port", type=int, default=d.port, help=f"port (default {d.port})")
    p.add_argument("--signalwire-project", default=d.signalwire_project, help="Project ID clients must use")
    p.add_argument("--signalwire-token", default=d.signalwire_token, help="API token clients must use")
    p.add_argument("--signing-key", default=d.signing_key, help="key that signs status callbacks")
    p.add_argument("--sent-delay", type=float, default=d.sent_delay, help="seconds from queued to sent")
    p.add_argument(
        "--delivered-delay", type=float, default=d.delivered_delay, help="seconds from sent to delivered"
    )
    p.add_argument(
        "--whatsapp-token", default=d.whatsapp_token, help="WhatsApp access token clients must use"
    )
    p.add_argument(
        "--app-secret", default=d.whatsapp_app_secret, help="Meta app secret that signs WhatsApp webhooks"
    )
    p.add_argument(
        "--webhook-url", default=None, help="where signed WhatsApp webhooks are POSTed (the receiver)"
    )
    p.add_argument(
        "--read-delay", type=float, default=d.read_delay, help="seconds from delivered to read (WhatsApp)"
    )
    p.set_defaults(func=_run_sandbox)


def _run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox.config import SandboxConfig
    from .sandbox.server import serve

    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: the sandbox is meant for loopback; listening on {args.host}", file=sys.stderr)
    serve(
        SandboxConfig(
            host=args.host,
            port=args.port,
            signalwire_project=args.signalwire_project,
            signalwire_token=args.signalwire_token,
            signing_key=args.signing_key,
            sent_delay=args.sent_delay,
            delivered_delay=args.delivered_delay,
            whatsapp_token=args.whatsapp_token,
            whatsapp_app_secret=args.app_secret,
            webhook_url=args.webhook_url,
            read_delay=args.read_delay,
        )
    )
    return 0


def _webhooks_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "webhooks",
        help="serve the webhook receiver on its own (it is also mounted in airflow api-server at /messaging)",
        description="Receive WhatsApp and SignalWire webhooks (statuses and inbound messages) and write them "
        "to the status store ([messaging] store_url). Secrets come from the Airflow connection named in the path.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8788, help="port (default 8788)")
    p.add_argument(
        "--store-url", default=None, help="SQLAlchemy URL of the store (default: [messaging] store_url)"
    )
    p.set_defaults(func=_run_webhooks)


def _run_webhooks(args: argparse.Namespace) -> int:
    import uvicorn

    from .tracking.store import MessageStore
    from .tracking.webhooks import create_webhook_app

    store = MessageStore(args.store_url)
    print(f"webhooks: writing to {store.describe()}", file=sys.stderr)
    uvicorn.run(create_webhook_app(store=store), host=args.host, port=args.port, log_level="info")
    return 0


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
