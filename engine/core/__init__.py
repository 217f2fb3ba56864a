"""The pure rules: workflows, guards, delays and calendars, the escalator, statutory amounts, money as typed.

Nothing here touches a database, a file being written or the command line (tests/unit/test_architecture.py
proves it); every function takes the day it works for (`as_of`) as an argument.
"""
