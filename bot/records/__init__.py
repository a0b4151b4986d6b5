"""What is kept about respondents: conversations, storage inbox, responses, opt-outs."""
