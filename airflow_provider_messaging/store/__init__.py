"""The status store and the send ledger (SQLAlchemy Core, SQLite or PostgreSQL)."""
