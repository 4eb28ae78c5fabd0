"""The adapters: the ports of crm.application, implemented with the ORM and Redis."""
