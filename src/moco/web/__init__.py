"""``moco ui``: the web UI and the HTTP API over the one event stream (see docs/web-api.md).

The app (:mod:`moco.web.app`) is a consumer of the orchestrator's events like the console
is; the messaging gateway and background tasks talk to the same API.
"""
