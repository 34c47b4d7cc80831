"""The framework-free harness, in two layers:

- shared/core/: what implementations import (spec, streams, params, protocol, data, loop, errors, images);
- shared/suite/: the `wgan-suite` commands (one module per command) and the measurements behind them.

Nothing here imports a deep-learning framework at import time; an implementation is loaded lazily by
name (shared.core.protocol.load_implementation), so a learner with only one framework installed can use
everything that does not need the other two.
"""
