"""Everything about SignalWire, with no Airflow import: REST and Relay clients, message rules,
statuses, webhooks and the error table."""
