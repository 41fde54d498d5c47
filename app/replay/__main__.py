import sys

from app.replay.command import main

sys.exit(main())
