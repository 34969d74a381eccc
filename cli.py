#!/usr/bin/env python
"""The toolkit's command line from a clone: `python cli.py --help` (installed, the same is `xray-tuner --help`).

Its implementation is `tuner/cli.py`.
"""

from tuner.cli import main, program_name, run

__all__ = ["main", "program_name", "run"]

if __name__ == "__main__":
    run()
