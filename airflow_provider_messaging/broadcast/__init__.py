"""Broadcasts: streamed recipient rows, paced concurrent sends, the send ledger and a report."""
