"""What an implementation imports: the spec, the data, the random streams every framework is fed, the
canonical parameters, the protocol (the contract), the training loop's bookkeeping, and one-line errors.

spec -> streams -> params -> protocol -> loop: each imports only those before it (and errors, machine).
No deep-learning framework is imported here, at import time or later.
"""
