"""Test support shipped with pyctr: fixtures, a local registry, test images, conformance suites."""
