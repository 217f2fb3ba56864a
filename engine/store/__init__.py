"""The database: models and migrations, the ledger (what is paid and owed as of a day, the only place),
and each case's hash-chained timeline with its registry of typed events."""
