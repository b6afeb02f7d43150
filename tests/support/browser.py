"""A real browser for the pages' tests: Debian's chromium (apt-get install -y chromium), driven by Playwright with
`executable_path` (Playwright's own browser download cannot work here), and where its screenshots go."""

import os
import shutil
from pathlib import Path

from tests.support.processes import ROOT

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
