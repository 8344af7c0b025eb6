"""The desk process and its clients (issue 9): one process per data directory owns the store, the
sources, the outbox and maintenance; consoles and CLI commands talk to it over a Unix socket.

Layering: ``tui.server`` sits above ``tui.setup`` (it opens the desk) and below ``tui.console``
and ``tui.cli`` (its clients).  It never imports Textual.
"""
