# plugins/audit_file: hash-chained JSON-lines audit sink.
