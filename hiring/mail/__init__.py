"""E-mail for the hiring pipeline: compose and send, receive (dev server, webhook, IMAP), classify.

Each module does one job: :mod:`~hiring.mail.tokens` (signed tokens), :mod:`~hiring.mail.outbound`
(compose, send), :mod:`~hiring.mail.devserver` (a local SMTP server), :mod:`~hiring.mail.view`
(a received message for reading), :mod:`~hiring.mail.inbound` (replies, auto-replies, bounces),
:mod:`~hiring.mail.imap` (polling a mailbox) and :mod:`~hiring.mail.errors`.
"""
