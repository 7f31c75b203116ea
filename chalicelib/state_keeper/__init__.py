"""The State Keeper: where every document is and where it has been.

Components report state changes with `reporter.StateReporter` (many changes per SQS
message); `handler.handle_state_change_messages` merges them into the state table through
a `store.StateStore` (`dynamo_store` for the table, `memory_store` for unit tests; SAP's
answers go to `outcome_pages`); `queries.StateQueries` answers the operations API. The
README explains the table design.
"""
