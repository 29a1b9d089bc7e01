"""Built-in evaluator plugins, one module each."""
