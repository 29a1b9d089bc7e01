"""Built-in network-family plugins, one module each."""
