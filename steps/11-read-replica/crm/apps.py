from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The composition root: every binding the app uses is made there, once, and the
        # ORM's signals are wired to the cache there too.
        from config import bootstrap

        bootstrap.bind()
        bootstrap.connect()
