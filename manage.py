#!/usr/bin/env python
import os
import sys


def main():
    # `manage.py test` runs under the test settings, which need no .env (nor its secret key).
    default = "tests.settings" if sys.argv[1:2] == ["test"] else "seckill_site.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
