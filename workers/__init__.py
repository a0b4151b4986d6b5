"""Background jobs (RQ). Importing this package never imports the web stack."""
