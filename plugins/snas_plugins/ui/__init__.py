"""The web UI (``snas ui``): start, watch, stop and resume searches, and look at their results.

The UI is a client of the run folders: it starts each search as its own
``snas search`` process, reads run folders with the public API
(:func:`snas.load_run`, :func:`snas.runtime.store.read_live`,
:func:`snas.runtime.store.lock_holder`) and holds no search logic. Streamlit is only
imported by the app itself (the ``ui`` extra); :mod:`.runs` and :mod:`.forms`
hold the parts that can be tested without it.
"""
