"""The web console (`provisioner serve`): FastAPI over the same core functions as the CLI."""
