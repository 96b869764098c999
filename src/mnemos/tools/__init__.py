"""Tools: the tool registry, built-in memory tools, and the MCP server and client."""
