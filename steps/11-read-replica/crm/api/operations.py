"""ninja-extra's async operation, with one controller per request and no trips to a
worker thread.

ninja-extra 0.31 runs two steps of every async request through ``sync_to_async``:
reading the parameters (pydantic validation) and turning the view's result into a
response. Neither waits on anything, so a thread buys them nothing, and each trip is a
hand-over to asgiref's request thread and back, under the GIL. django-ninja, which
steps 02 to 07 use, runs both on the event loop; so does this.

It also builds the controller twice per request, through injector: once to check
permissions, once to run the view. Each build reads the constructor's signature again
and asks kink for the use case and the cache; on a cached page, one Redis GET, the
builds were much of step 08's gap to step 07 (docs/steps/08-optimized.md, `make
profile`). Here one controller checks the permissions and then runs the view, in the
same order: permissions before parameters, so a refused caller learns nothing from a
validation error.
"""

from ninja_extra.controllers.utils import get_api_controller
from ninja_extra.operation import AsyncOperation


class LoopOperation(AsyncOperation):
    async def run(self, request, **kw):
        route_function = self._get_route_function()
        if route_function is None or getattr(self, "stream_format", None):
            return await super().run(request, **kw)
        try:
            async with self._prep_run(
                request,
                temporal_response=self.api.create_temporal_response(request),
                api=self.api,
                view_signature=self.signature,
                **kw,
            ) as ctx:
                error = await self._run_checks(request)
                if error:
                    return error
                with route_function._prep_controller_route_execution(ctx) as built:
                    controller = built.controller_instance
                    await controller.async_check_permissions()
                    if not ctx.has_computed_route_parameters:
                        ctx.compute_route_parameters()
                    result = await route_function.route.view_func(
                        controller, **ctx.kwargs["view_func_kwargs"], **built.view_func_kwargs
                    )
                return self._result_to_response(request, result, ctx.response)
        except Exception as exc:
            return self.api.on_exception(request, exc)


def on_the_loop(controller: type) -> type:
    """Make ``controller``'s async routes LoopOperations; before it is registered."""
    for path_view in get_api_controller(controller).path_operations.values():
        for operation in path_view.operations:
            # Exactly ninja-extra's class: a subclass (a paginated route) keeps its own.
            if type(operation) is AsyncOperation:
                operation.__class__ = LoopOperation
    return controller
