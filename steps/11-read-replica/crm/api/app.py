"""The API object: ninja-extra, the step's parser, renderer and error handlers."""

from ninja_extra import NinjaExtraAPI

from crm.api import errors
from crm.api.controllers import CustomerController
from crm.api.operations import on_the_loop
from crm.api.parsers import JSONParser
from crm.api.renderers import RENDERER

api = NinjaExtraAPI(
    title="CRM customers API",
    description="The customers API of the Django performance ladder (step.toml names the step).",
    version="1.0.0",
    parser=JSONParser(),
    renderer=RENDERER,
    openapi_url="/openapi.json",
    docs_url="/docs/",
)
errors.register(api)
api.register_controllers(on_the_loop(CustomerController))
