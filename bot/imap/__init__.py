"""Following the list over IMAP as an ordinary subscriber."""
