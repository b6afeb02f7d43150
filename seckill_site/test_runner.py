"""`manage.py test` runs the same pytest suite as `pytest` does.

It starts pytest in a child process with the test settings (tests/settings.py), because this process has
already configured Django with the project's settings and the tests must never touch the real Redis database.
After https://pytest-django.readthedocs.io/en/latest/faq.html#how-can-i-use-manage-py-test-with-pytest-django
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class PytestTestRunner:
    def __init__(self, verbosity=1, failfast=False, keepdb=False, **kwargs):
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--keepdb", action="store_true", help="Preserve the test database between runs.")

    def run_tests(self, test_labels, **kwargs):
        args = [sys.executable, "-m", "pytest"]
        if self.verbosity == 0:
            args.append("--quiet")
        elif self.verbosity > 1:
            args.append("-" + "v" * (self.verbosity - 1))
        if self.failfast:
            args.append("--exitfirst")
        if self.keepdb:
            args.append("--reuse-db")
        args.extend(test_labels)
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
        return subprocess.call(args, cwd=ROOT, env=env)
