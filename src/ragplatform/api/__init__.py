"""The HTTP shell: routers, dependencies, problem+json handlers and middleware."""
