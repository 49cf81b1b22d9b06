import sys

from mairie.bench.run import main

sys.exit(main())
