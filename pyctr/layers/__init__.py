"""Layer tar I/O: safe extraction with whiteouts, and making a layer tar. The storage drivers' toolkit (docs/plugins.md)."""
