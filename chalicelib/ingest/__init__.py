"""Getting platform files into the engine: uploads, splitting files into chunks of records
for the normalize queue, and normalizing each chunk into the lake, quarantine and SAP queue."""
