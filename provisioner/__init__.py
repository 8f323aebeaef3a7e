"""provisioner: put Italian comuni on remote work with Ansible."""

__version__ = "0.1.0"
