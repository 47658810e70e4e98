"""The gateway: REST API, web UI, WebSeed, downloads, health and metrics (FastAPI).

``create_app(settings)`` builds the app; its lifespan owns the shared services.
"""
