"""The local runtime: the Data Engine on an embedded AWS emulator, no AWS account needed.

It does what AWS does around the functions of the Chalice app: provisions the stage's
resources on moto (server mode, loopback), polls queues, delivers S3 notifications, fires
schedules, answers Lambda Invoke for Step Functions, and serves the REST API with
`chalice local`. None of it ships to Lambda.
"""
