"""How a run runs: the plugin manager, the run description, the engine, the run folder and its
readers, the in-trial context, objectives, pre-screening and devices."""
