"""Run with a step's own interpreter, in its folder: print, as JSON, which model signals
have receivers for which of the app's models once Django is set up."""

import json
import os
import sys

import django

# bench.serve.run_script keeps this folder off the path: the step's own is the cwd.
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.apps import apps  # noqa: E402
from django.db.models import signals  # noqa: E402

NAMES = ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")
print(
    json.dumps(
        sorted(
            [name, model._meta.db_table]
            for name in NAMES
            for model in apps.get_app_config("crm").get_models()
            if getattr(signals, name).has_listeners(model)
        )
    )
)
