"""Test helpers shipped with pyctr: fixtures, the kernel-matrix VM runner, servers for tests."""
