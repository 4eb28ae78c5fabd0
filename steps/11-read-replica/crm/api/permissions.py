"""Who may call the API: anyone, as in every step, checked without leaving the event loop."""

from ninja_extra.permissions import AsyncBasePermission


class Anyone(AsyncBasePermission):
    """ninja-extra's default, ``AllowAny``, is a sync permission: an async controller runs
    its check through ``sync_to_async``, a trip to a worker thread and back on every
    request only to learn "yes". This one answers on the loop."""

    async def has_permission_async(self, request, controller) -> bool:
        return True
