"""Reaching a database: URLs, connections, masking, and psql's password."""
