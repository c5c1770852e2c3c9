"""Driver conformance suites, one module per kind, shared by pyctr and third parties.

Each module holds a ``Test<Kind>DriverConformance`` class whose tests use the
``<kind>_driver`` fixture from :mod:`pyctr.testing.pytest_plugin`; run one with
``pytest --pyctr-driver=KIND:NAME --pyargs pyctr.testing.conformance.KIND``.
"""
