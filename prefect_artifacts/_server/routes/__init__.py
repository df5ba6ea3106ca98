"""Route modules of the registry server."""
