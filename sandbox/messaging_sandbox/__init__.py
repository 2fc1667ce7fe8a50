"""A local stand-in for SignalWire messaging and the WhatsApp Cloud API, served on loopback.

It speaks the services' own wire protocols, so the Airflow messaging provider (and any other client
of the real services) can be developed and tested offline. Its rules are written from the services'
documentation. ``messaging-sandbox`` serves it; ``messaging_sandbox.server.SandboxServer`` runs it in
a background thread.
"""

__version__ = "0.1.0"
