"""`python -m impl_pytorch --n_epochs 1`: train this framework alone, with the tutorial script's flags."""

import sys

from shared.suite.cli import standalone

if __name__ == "__main__":
    sys.exit(standalone("pytorch"))
