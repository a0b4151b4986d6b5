"""The conversation core: questionnaire, engine, texts, voice prompts, lints (pure)."""
