"""Built-in executor plugins, one module each."""
