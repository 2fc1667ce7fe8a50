"""Where delivery state lives: the store, the webhook receiver and its Airflow plugin."""
