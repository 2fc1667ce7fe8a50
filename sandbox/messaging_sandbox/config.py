"""What the sandbox accepts as credentials and how fast its messages progress."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8787  # 0 picks a free port (tests)
    signalwire_project: str = "sandbox-project"
    signalwire_token: str = "sandbox-token"
    signing_key: str = "sandbox-signing-key"
    sent_delay: float = 0.2  # seconds from queued to sent
    delivered_delay: float = 0.3  # seconds from sent to the final state
    seed: int | None = None  # for repeatable fault injection
    whatsapp_token: str = "sandbox-whatsapp-token"
    whatsapp_phone_number_id: str = "106500000000001"
    whatsapp_waba_id: str = "200000000000001"
    whatsapp_app_secret: str = "sandbox-app-secret"
    webhook_url: str | None = None  # where signed WhatsApp webhooks go (e.g. the receiver)
    read_delay: float = 0.3  # seconds from delivered to read (WhatsApp)
    relay_ping_interval: float = 15.0  # seconds between the Relay server's pings to each client
    # serve https and wss with this certificate and key (PEM files): for clients that only speak
    # TLS, such as signalwire-sdk 3.x's RelayClient (wss://{host} with SIGNALWIRE_RELAY_CA_FILE)
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
