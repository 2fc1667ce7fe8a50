"""The ``messaging-sandbox`` console command.

Another command can serve the sandbox as one of its subcommands: give the subparser the options
with :func:`add_arguments` and call :func:`run` with the parsed arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .config import SandboxConfig

DESCRIPTION = (
    "Serve SignalWire's Compatibility Messages API, native Messaging API and message logs, SignalWire "
    "Relay (both framings) and the WhatsApp Cloud API on loopback, with magic recipient numbers, fault "
    "knobs and a control API under /_sandbox/."
)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options (host, port, credentials, delays, webhook URL) to ``parser``."""
    d = SandboxConfig()
    parser.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host})")
    parser.add_argument("--port", type=int, default=d.port, help=f"port (default {d.port})")
    parser.add_argument(
        "--signalwire-project", default=d.signalwire_project, help="Project ID clients must use"
    )
    parser.add_argument("--signalwire-token", default=d.signalwire_token, help="API token clients must use")
    parser.add_argument("--signing-key", default=d.signing_key, help="key that signs status callbacks")
    parser.add_argument("--sent-delay", type=float, default=d.sent_delay, help="seconds from queued to sent")
    parser.add_argument(
        "--delivered-delay", type=float, default=d.delivered_delay, help="seconds from sent to delivered"
    )
    parser.add_argument(
        "--whatsapp-token", default=d.whatsapp_token, help="WhatsApp access token clients must use"
    )
    parser.add_argument(
        "--app-secret", default=d.whatsapp_app_secret, help="Meta app secret that signs WhatsApp webhooks"
    )
    parser.add_argument(
        "--webhook-url", default=None, help="where signed WhatsApp webhooks are POSTed (the receiver)"
    )
    parser.add_argument(
        "--read-delay", type=float, default=d.read_delay, help="seconds from delivered to read (WhatsApp)"
    )
    parser.add_argument(
        "--tls-cert", default=None, help="PEM certificate: serve https and wss (with --tls-key)"
    )
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")


def config_from(args: argparse.Namespace) -> SandboxConfig:
    """The configuration the parsed options describe."""
    return SandboxConfig(
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
        tls_certfile=args.tls_cert,
        tls_keyfile=args.tls_key,
    )


def run(args: argparse.Namespace) -> int:
    """Serve the sandbox until interrupted; the exit status."""
    from .server import serve  # uvicorn is imported only when serving

    if args.host not in _LOOPBACK:
        print(f"warning: the sandbox is meant for loopback; listening on {args.host}", file=sys.stderr)
    serve(config_from(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="messaging-sandbox", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
