"""Figures and reports of a finished (or running) search, read from its run file.

:mod:`~snas_plugins.reporting.analysis` computes what the figures show (the
Pareto front, parameter importance, the explored values, a 2-D map of the
architectures); :mod:`~snas_plugins.reporting.figures` draws them as
matplotlib figures; :mod:`~snas_plugins.reporting.html` puts them all in one
self-contained HTML report; :mod:`~snas_plugins.reporting.commands` adds
``snas plot`` and ``snas report``. A web UI reuses the same functions.
"""
