"""The process side of a container: syscalls, the child's steps, the monitor."""
