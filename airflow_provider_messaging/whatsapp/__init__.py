"""Everything about the WhatsApp Cloud API, with no Airflow import: the client, message types,
templates, webhooks and the error table."""
