"""What the team reads: the aging balance, the escalation funnel, and each case's timeline as text, JSON,
CSV or a printable page. Read-only views over the store."""
