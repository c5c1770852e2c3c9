"""The Linux kernel interface: system calls through ctypes, mount options, paths resolved inside a root. Standard library only."""
