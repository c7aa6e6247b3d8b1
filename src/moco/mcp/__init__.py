"""Helpers of the MCP client; the public names import from :mod:`moco.core.mcp_client`.

- :mod:`moco.mcp.config`: server definitions and where they are read from;
- :mod:`moco.mcp.results`: MCP tool results converted to text (and kept whole);
- :mod:`moco.mcp.connection`: one server's transport and session, owned by a background task;
- :mod:`moco.mcp.tools`: MCP tools as moco :class:`~moco.tools.base.Tool` objects.

Nothing here imports the ``mcp`` SDK at import time: it loads when a server starts.
"""
