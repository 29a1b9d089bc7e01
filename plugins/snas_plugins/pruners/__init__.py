"""Built-in pruner plugins, one module each."""
