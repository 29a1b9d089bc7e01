"""How users reach snas: the Python API and the ``snas`` command line."""
