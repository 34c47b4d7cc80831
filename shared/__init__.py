"""The framework-free harness: spec, data, random streams, canonical parameters, protocol, runs, checks, CLI.

Nothing here imports a deep-learning framework at import time; an implementation is loaded lazily by
name (shared.protocol.load_implementation), so a learner with only one framework installed can use
everything that does not need the other two.
"""
