"""Transports: how a message leaves (SMTP, or .eml files for a demo or a test), knowing nothing of cases.

`email.py` builds the MIME message (stable Message-ID, attachments); `smtp.py` delivers it and sorts
the server's answers into temporary (try again later) and permanent (a person must act). The outbox
that decides what to send and records what happened is engine.cases.outbox.
"""
