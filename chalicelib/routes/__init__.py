"""The HTTP edge: Chalice Blueprints per area, the authorizer, the route table and the one table of domain errors.

Route modules call the domain (through `wiring`) and return; `roles.py` says each route's
least role and whether it is audited, `access.py` checks and audits, `errors.py` answers a
domain error with its status. `app.py` registers the blueprints and keeps the event handlers.
"""
