"""Adapters to the outside world: ansible-runner, SQLite, podman, files."""
