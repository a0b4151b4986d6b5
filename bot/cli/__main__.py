"""`python -m bot.cli ...` is `surveybot ...` (how `surveybot dev` starts its processes)."""

from bot.cli import main

main()
