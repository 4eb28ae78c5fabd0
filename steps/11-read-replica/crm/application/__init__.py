"""The use cases: what the API can do with customers, against ports, not frameworks.

A port is a typing.Protocol (ports.py); infrastructure/ implements each one, and
config/bootstrap.py binds them. This package imports neither infrastructure nor api
(an import-linter contract), so its tests run on in-memory fakes.
"""
