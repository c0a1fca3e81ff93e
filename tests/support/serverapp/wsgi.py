"""The WSGI application gunicorn serves: ``gunicorn tests.support.serverapp.wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.server_settings")

application = get_wsgi_application()
