"""Built-in exporter plugins, one module each."""
