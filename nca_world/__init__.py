"""nca-world: worlds in which several Neural Cellular Automata organisms live side by side.

`nca_world.agents` holds the organisms (the rule, its model files, the trainer, the zoo);
`nca_world.sim` the worlds (the numba core, events, scenarios, recordings, the viewer, analysis,
sweeps and the command line). Every path argument of the public API takes a `str` or a `Path`.
"""
