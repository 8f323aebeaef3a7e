"""`python -m provisioner`."""

from provisioner.cli.app import main

main()
