"""The UnitOfWork port: one database transaction."""

from django.db import transaction


class DjangoUnitOfWork:
    """``transaction.atomic``: the block's writes all commit, or none does.

    Django's async ORM has no async transactions: an ``acreate`` runs in autocommit on
    whichever thread is free. The API runs each write use case with ``sync_to_async``,
    which keeps the whole block on one thread, one connection, one transaction.
    """

    def __call__(self):
        return transaction.atomic()
