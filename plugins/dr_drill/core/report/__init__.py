"""The HTML a person reads, rendered from evidence records: a drill's report and the evidence pack."""
