"""An snas plugin package written the way a third party would write one.

Three plugins, one module each, registered under the entry-point group
``snas`` in ``pyproject.toml``:

- :mod:`snas_example.family`: ``gap_cnn``, convolutions then global average pooling;
- :mod:`snas_example.strategy`: ``local_search``, hill climbing from the best architecture so far;
- :mod:`snas_example.exporter`: ``npz``, trained weights as a NumPy archive, read back without pickle.

It uses only the public API of ``snas``.
"""

__version__ = "1.0.0"
