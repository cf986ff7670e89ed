"""One scenario and one run: the spec, the world it determines, the run and its result document."""
