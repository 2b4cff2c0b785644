"""The web gateway (``polydemo web``, docs/web.md): one ASGI service on 127.0.0.1 with GraphQL, JSON endpoints,
a live WebSocket feed and the browser view, over the same application layer (``polydemo.app.Demo``) as the CLI
and the scenario runner."""
