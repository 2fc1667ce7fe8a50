"""A local stand-in for the messaging services, served on loopback.

It speaks the services' own wire protocols, so the provider (and any other client of the real
services) can be developed and tested offline. ``airflow-messaging sandbox`` serves it.
"""
