"""The built-in snas plugins.

Each module registers one component through the entry-point group ``snas``
in snas's ``pyproject.toml``, exactly as a third-party package would. They use
only the public API of :mod:`snas`.
"""
