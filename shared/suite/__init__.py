"""The `wgan-suite` commands, one module per command and named after it (train, compare, parity, results,
accidents, bench, code, ...; cli.py parses the command line), plus what they share: metrics (sample
quality), agreement (the cross-framework statistics), quality, report (the HTML page), worker (one
framework in a process of its own).

Everything here is built on shared/core/; an implementation never imports from here.
"""
