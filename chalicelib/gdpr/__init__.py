"""GDPR: scheduled anonymization and erasure requests over the data already in S3.

The modules read like the erasure workflow: `find_objects` (Athena finds the objects
holding the subjects), `rewrite_object` (each object rewritten without them),
`forget_subjects` (State Keeper and quarantine), `verify_erasure` (find again, zero hits),
`report_job` (report per request, cost, mail). `erasure_workflow` binds them to their
dependencies for the Step Functions task functions; `state_machine` generates the ASL.
"""
