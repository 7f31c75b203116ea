"""The HTTP edge: Chalice Blueprints per area, the authorizer and the one table of domain errors.

Route modules call the domain (through `wiring`) and return; `errors.py` answers a domain
error with its status. `app.py` registers the blueprints and keeps the event handlers.
"""
