"""A simulated handheld: local store, outbox, sync engine, tus uploads and a CLI.

It is a real client of the server's HTTP API (it never imports ``server``), used for demos,
end-to-end tests and soak runs over flaky networks.
"""
