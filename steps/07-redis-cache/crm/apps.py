from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crm import signals  # noqa: F401 (connects the cache's receivers)
