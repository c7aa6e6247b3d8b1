#!/usr/bin/env bash
# Install the official MCP reference servers the MCP tests run against (idempotent):
#   - npm @modelcontextprotocol/server-everything (major pinned) into $MOCO_TEST_SERVERS_DIR
#     (default /opt/moco-test-servers); tests find it there or through MOCO_MCP_EVERYTHING;
#   - PyPI mcp-server-time, in the same Python as moco (kept on the mcp SDK's major 2).
# Needs node >= 18 and npm. Set MOCO_TEST_SERVERS_FORCE=1 to reinstall.
set -euo pipefail

PREFIX="${MOCO_TEST_SERVERS_DIR:-/opt/moco-test-servers}"
EVERYTHING_SPEC="@modelcontextprotocol/server-everything@2026"
ENTRY="$PREFIX/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
PYTHON="${PYTHON:-python3}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-test-servers: node (>= 18) and npm are required" >&2
  exit 1
fi
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if (( NODE_MAJOR < 18 )); then
  echo "install-test-servers: node >= 18 is required (found $(node --version))" >&2
  exit 1
fi

if [[ -f "$ENTRY" && "${MOCO_TEST_SERVERS_FORCE:-0}" != "1" ]]; then
  echo "server-everything: already installed ($ENTRY)"
else
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund --silent "$EVERYTHING_SPEC"
  test -f "$ENTRY"
  echo "server-everything: installed ($ENTRY)"
fi

if "$PYTHON" -c "import mcp_server_time" >/dev/null 2>&1 && [[ "${MOCO_TEST_SERVERS_FORCE:-0}" != "1" ]]; then
  echo "mcp-server-time: already installed"
else
  "$PYTHON" -m pip install -q "mcp>=2,<3" "mcp-server-time>=2026.10.19"
  echo "mcp-server-time: installed"
fi
