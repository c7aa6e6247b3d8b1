"""MCP in moco: the client's helpers (public names import from :mod:`moco.core.mcp_client`)
and ``moco mcp serve``.

- :mod:`moco.mcp.config`: server definitions and where they are read from;
- :mod:`moco.mcp.results`: MCP tool results converted to text (and kept whole);
- :mod:`moco.mcp.connection`: one server's transport and session, owned by a background task;
- :mod:`moco.mcp.tools`: MCP tools as moco :class:`~moco.tools.base.Tool` objects;
- :mod:`moco.mcp.server` and :mod:`moco.mcp.http_server`: a profile's agents served over
  MCP (stdio and streamable HTTP).

The client modules import the ``mcp`` SDK only when a server starts; the server modules
import it at once, and are loaded only by ``moco mcp serve``.
"""
