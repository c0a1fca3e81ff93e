"""Minimal settings for the benchmarks: django-blinker is installed by the scripts.

SQLite in memory; DJANGO_BLINKER_DB=postgres switches to PostgreSQL at 127.0.0.1:5432,
DJANGO_BLINKER_DB=mariadb to MariaDB at 127.0.0.1:3306 (user root).
"""

import os

SECRET_KEY = "bench"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "bench.benchapp"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

if os.environ.get("DJANGO_BLINKER_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DJANGO_BLINKER_BENCH_DB", "django_blinker_bench"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
elif os.environ.get("DJANGO_BLINKER_DB") == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("DJANGO_BLINKER_BENCH_DB", "django_blinker_bench"),
            "USER": os.environ.get("MARIADB_USER", "root"),
            "PASSWORD": os.environ.get("MARIADB_PASSWORD", ""),
            "HOST": os.environ.get("MARIADB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MARIADB_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }

if os.environ.get("DJANGO_BLINKER_BENCH_WORKER"):
    # The drain's worker. CONN_MAX_AGE alone keeps no connection: Celery's Django fixup
    # closes every one around each task unless CELERY_DB_REUSE_MAX is set (bench._background).
    DATABASES["default"]["CONN_MAX_AGE"] = 600
