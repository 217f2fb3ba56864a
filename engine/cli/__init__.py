"""The `relance` command: engine.cli.main holds the group, one module per command group, options shared."""
