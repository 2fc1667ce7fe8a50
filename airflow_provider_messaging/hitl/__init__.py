"""Answering Airflow human-in-the-loop tasks by message."""
