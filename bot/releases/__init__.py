"""What is published: aggregates, reports, small-cell protection, figures, the email."""
