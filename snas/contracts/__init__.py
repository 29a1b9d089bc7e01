"""What plugins implement and exchange: the hooks, the component base classes, the records a
trial passes through, the search-space description, data containers, settings and errors."""
