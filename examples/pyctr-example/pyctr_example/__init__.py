"""An example third-party pyctr plugin distribution."""
