"""Erasure requests and the workflow that carries them out over the data already in S3.

The modules read like the workflow: `api` and `requests` (intake), `find_objects` (the
query engine finds the objects holding the subjects), the lake rewrite, `forget_subjects`
(State Keeper and quarantine), the SAP step, `verify_erasure` (find again, zero hits),
`report_job` (report per request, cost, mail). `workflow` binds them to their dependencies
for the Step Functions task functions; `state_machine` generates the ASL.
"""
