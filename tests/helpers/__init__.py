"""Test helpers: real servers (Dovecot, SMTP, PostgreSQL) and hand-made mail for the tests."""
