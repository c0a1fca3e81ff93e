"""The ASGI application uvicorn serves: ``uvicorn tests.support.serverapp.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.server_settings")

application = get_asgi_application()
