"""One module per platform format. Each module exposes `CONNECTORS`, a list of connector
instances; `chalicelib.normalize.sources` finds them, so a new platform is one new module
here (plus its tests) and nothing else changes."""
