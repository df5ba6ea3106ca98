"""The web view of a registry: server-rendered pages under ``/ui`` (see `prefect_artifacts._web.routes`).

Pages are Jinja2 templates with autoescaping, a vendored stylesheet and a little plain
JavaScript, all served from the package (no CDN, no build step). Every page reads
through ``ServerState.registry_for(principal)``, so it shows only what the caller can read.
"""
