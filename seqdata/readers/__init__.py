"""Sequence record readers: one protocol, several sources."""
