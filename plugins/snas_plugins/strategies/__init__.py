"""Built-in search-strategy plugins, one module each."""
