"""What each member of the team may do in the web app, from least to most: a rule, not a table."""

ROLES = ("viewer", "collector", "legal", "admin")

__all__ = ["ROLES"]
