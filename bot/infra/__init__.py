"""Infrastructure: settings, database, Redis keys, queue, pseudonyms, encryption, mail."""
