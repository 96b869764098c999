"""Built-in persona sets for brainstorms (TOML files)."""
