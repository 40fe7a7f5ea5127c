"""`python -m rayscope.agent`: see agent/main.py and docs/architecture.md for the command line."""
import sys

from rayscope.agent.main import main

sys.exit(main())
