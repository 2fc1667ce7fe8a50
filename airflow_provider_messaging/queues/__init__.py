"""Schemes for ``apache-airflow-providers-common-messaging``'s ``MessageQueueTrigger``."""
