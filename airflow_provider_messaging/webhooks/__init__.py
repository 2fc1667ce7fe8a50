"""The webhook receiver and the Airflow plugin that mounts it in ``airflow api-server``."""
