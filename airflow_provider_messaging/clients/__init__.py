"""Wire-protocol clients, one module per protocol. No Airflow imports."""
