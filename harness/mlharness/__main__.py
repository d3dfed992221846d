import sys

from mlharness.cli import main

sys.exit(main())
