"""The team's web app (`relance serve`): server-rendered pages over the use cases of engine.cases.

app.py wires it; security.py holds sessions, CSRF, roles and the login throttle; cases.py, library.py and
auth.py are the pages; render.py the templates; diagram.py draws a workflow as SVG; screens.py takes
screenshots of it in headless Chromium. It calls engine.cases and engine.reports, never the store.
"""
