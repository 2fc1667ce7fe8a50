"""Service-independent rules: message states, errors, phone numbers, body limits, retries.

Nothing in this package imports Airflow, so it is cheap to import and fast to test.
"""
